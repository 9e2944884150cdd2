//! Renders `charts/ferrocache-operator` the way `helm template` would, for the subset of Helm's template language
//! the chart uses, so tests can check the rendered manifests where Helm itself is not installed.
//!
//! Supported: `{{ .Values.a.b }}`, `.Release.Name`, `.Release.Namespace`, `.Chart.Name`, `.Chart.Version`,
//! `.Chart.AppVersion`, string and integer literals, the functions `quote`, `default`, `toYaml`, `indent` and
//! `nindent` (called directly or through `|`), `{{ if }} … {{ else }} … {{ end }}` with Go's truthiness, and the
//! `{{-`/`-}}` whitespace trimming. Anything else in a template is an error, so the chart cannot silently grow
//! beyond what this renderer checks; `helm lint` and `helm template` (run by `e2e/run.sh`) check the real thing.
//! Unlike Helm, a missing value printed by `{{ }}` is an error rather than `<no value>`: it is always a typo.

#![allow(dead_code)] // Each test crate uses part of this module.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// The chart directory.
pub fn chart_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../charts/ferrocache-operator")
}

/// The chart's default values (`values.yaml`).
pub fn default_values() -> Value {
    read_yaml(&chart_dir().join("values.yaml"))
}

/// Reads a YAML file as JSON values.
pub fn read_yaml(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()))
}

/// Sets `values.<dotted path>` to `value`, creating objects on the way.
pub fn set(values: &mut Value, path: &str, value: Value) {
    let mut node = values;
    for key in path.split('.') {
        if !node.is_object() {
            *node = Value::Object(Default::default());
        }
        node = node
            .as_object_mut()
            .expect("just made an object")
            .entry(key.to_string())
            .or_insert(Value::Null);
    }
    *node = value;
}

/// One rendered template file.
pub struct Rendered {
    /// File name under `templates/`.
    pub file: String,
    /// Rendered text.
    pub text: String,
}

/// Renders every template (and NOTES.txt) with `values` as release `release` in `namespace`.
pub fn render(values: &Value, release: &str, namespace: &str) -> Result<Vec<Rendered>, String> {
    let chart = read_yaml(&chart_dir().join("Chart.yaml"));
    let root = serde_json::json!({
        "Values": values,
        "Release": { "Name": release, "Namespace": namespace, "Service": "Helm" },
        "Chart": {
            "Name": chart["name"],
            "Version": chart["version"],
            "AppVersion": chart["appVersion"],
        },
    });
    let mut files: Vec<PathBuf> = std::fs::read_dir(chart_dir().join("templates"))
        .map_err(|e| format!("templates/: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let source = std::fs::read_to_string(&path).map_err(|e| format!("{file}: {e}"))?;
        let text = render_text(&source, &root).map_err(|e| format!("{file}: {e}"))?;
        out.push(Rendered { file, text });
    }
    Ok(out)
}

/// The Kubernetes objects of the rendered YAML templates (NOTES.txt excluded), with their template's name.
pub fn objects(rendered: &[Rendered]) -> Result<Vec<(String, Value)>, String> {
    let mut objects = Vec::new();
    for r in rendered.iter().filter(|r| r.file.ends_with(".yaml")) {
        for document in serde_yaml::Deserializer::from_str(&r.text) {
            let value = Value::deserialize(document).map_err(|e| {
                format!("{} does not render to valid YAML: {e}\n{}", r.file, r.text)
            })?;
            if !value.is_null() {
                objects.push((r.file.clone(), value));
            }
        }
    }
    Ok(objects)
}

/// Renders with the default values as release `ferrocache` in `ferrocache-system` and returns the objects.
pub fn default_objects() -> Vec<(String, Value)> {
    let rendered = render(&default_values(), "ferrocache", "ferrocache-system").expect("renders");
    objects(&rendered).expect("rendered YAML parses")
}

/// The object of `kind` (and `name`, when given); panics when absent.
pub fn find<'a>(objects: &'a [(String, Value)], kind: &str, name: Option<&str>) -> &'a Value {
    objects
        .iter()
        .map(|(_, o)| o)
        .find(|o| o["kind"] == kind && name.is_none_or(|n| o["metadata"]["name"] == n))
        .unwrap_or_else(|| panic!("no {kind} {name:?} rendered"))
}

// ---- the template language ----

#[derive(Debug)]
enum Node {
    Text(String),
    Print(String),
    If {
        condition: String,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

/// Splits the source into text and actions, applying `{{-` and `-}}` trimming.
fn tokens(source: &str) -> Result<Vec<(bool, String)>, String> {
    let mut out: Vec<(bool, String)> = Vec::new();
    let mut rest = source;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        if trim_next {
            text = text.trim_start();
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "an action is not closed with }}".to_string())?;
        let mut action = &after[..end];
        if let Some(stripped) = action.strip_prefix('-') {
            text = text.trim_end();
            action = stripped;
        }
        trim_next = false;
        if let Some(stripped) = action.strip_suffix('-') {
            trim_next = true;
            action = stripped;
        }
        out.push((false, text.to_string()));
        out.push((true, action.trim().to_string()));
        rest = &after[end + 2..];
    }
    out.push((
        false,
        if trim_next { rest.trim_start() } else { rest }.to_string(),
    ));
    Ok(out)
}

fn parse(
    tokens: &mut std::vec::IntoIter<(bool, String)>,
) -> Result<(Vec<Node>, Option<String>), String> {
    let mut nodes = Vec::new();
    while let Some((is_action, text)) = tokens.next() {
        if !is_action {
            if !text.is_empty() {
                nodes.push(Node::Text(text));
            }
            continue;
        }
        if text == "end" || text == "else" {
            return Ok((nodes, Some(text)));
        }
        if let Some(condition) = text.strip_prefix("if ") {
            let (then, stop) = parse(tokens)?;
            let otherwise = match stop.as_deref() {
                Some("end") => Vec::new(),
                Some("else") => match parse(tokens)? {
                    (otherwise, Some(end)) if end == "end" => otherwise,
                    _ => return Err("{{ else }} without {{ end }}".into()),
                },
                _ => return Err(format!("{{{{ if {condition} }}}} without {{{{ end }}}}")),
            };
            nodes.push(Node::If {
                condition: condition.trim().to_string(),
                then,
                otherwise,
            });
            continue;
        }
        let keyword = text.split_whitespace().next().unwrap_or_default();
        if [
            "range", "with", "define", "template", "block", "include", "tpl", "/*",
        ]
        .contains(&keyword)
            || text.starts_with("/*")
            || text.contains(":=")
        {
            return Err(format!(
                "{{{{ {text} }}}} is beyond the template subset tests/helm_template renders"
            ));
        }
        nodes.push(Node::Print(text));
    }
    Ok((nodes, None))
}

/// Renders one template's text against `root` (`{"Values": …, "Release": …, "Chart": …}`).
pub fn render_text(source: &str, root: &Value) -> Result<String, String> {
    let mut iter = tokens(source)?.into_iter();
    let (nodes, stop) = parse(&mut iter)?;
    if let Some(stop) = stop {
        return Err(format!("{{{{ {stop} }}}} without {{{{ if }}}}"));
    }
    let mut out = String::new();
    emit(&nodes, root, &mut out)?;
    Ok(out)
}

fn emit(nodes: &[Node], root: &Value, out: &mut String) -> Result<(), String> {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Print(pipeline) => {
                let value = evaluate(pipeline, root)?;
                if value.is_null() {
                    return Err(format!("{{{{ {pipeline} }}}} has no value"));
                }
                out.push_str(&to_text(&value));
            }
            Node::If {
                condition,
                then,
                otherwise,
            } => {
                let branch = if truthy(&evaluate(condition, root)?) {
                    then
                } else {
                    otherwise
                };
                emit(branch, root, out)?;
            }
        }
    }
    Ok(())
}

/// Go template truthiness: false, 0, nil and empty strings, lists and maps are false.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// How `{{ }}` prints a value.
fn to_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Splits on whitespace, keeping double-quoted strings whole.
fn words(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            let mut literal = String::from('"');
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => {
                        literal.push('\\');
                        literal.push(chars.next().ok_or("unterminated string")?);
                    }
                    Some(c) => literal.push(c),
                    None => return Err(format!("unterminated string in {text:?}")),
                }
            }
            literal.push('"');
            out.push(literal);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek().filter(|c| !c.is_whitespace()) {
                word.push(c);
                chars.next();
            }
            out.push(word);
        }
    }
    Ok(out)
}

fn evaluate(pipeline: &str, root: &Value) -> Result<Value, String> {
    let mut value: Option<Value> = None;
    for command in pipeline.split('|') {
        let mut args = words(command)?;
        if args.is_empty() {
            return Err(format!("empty command in {pipeline:?}"));
        }
        let head = args.remove(0);
        let mut operands = args
            .iter()
            .map(|a| operand(a, root))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(piped) = value.take() {
            operands.push(piped);
        }
        value = Some(if operands.is_empty() {
            operand(&head, root)?
        } else {
            call(&head, operands)?
        });
    }
    value.ok_or_else(|| format!("empty pipeline {pipeline:?}"))
}

fn operand(word: &str, root: &Value) -> Result<Value, String> {
    if let Some(path) = word.strip_prefix('.') {
        let mut node = root;
        for key in path.split('.') {
            node = match node.get(key) {
                Some(next) => next,
                None => return Ok(Value::Null),
            };
        }
        return Ok(node.clone());
    }
    if word.starts_with('"') {
        return serde_json::from_str(word).map_err(|e| format!("bad string {word}: {e}"));
    }
    if let Ok(n) = word.parse::<i64>() {
        return Ok(Value::from(n));
    }
    if word == "true" || word == "false" {
        return Ok(Value::Bool(word == "true"));
    }
    Err(format!(
        "{word:?} is beyond the template subset tests/helm_template renders"
    ))
}

fn call(function: &str, args: Vec<Value>) -> Result<Value, String> {
    let count = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!(
                "{function} takes {n} arguments, got {}",
                args.len()
            ))
        }
    };
    let width = |v: &Value| {
        v.as_u64()
            .map(|n| n as usize)
            .ok_or_else(|| format!("{function}: the width must be a number"))
    };
    let indent = |n: usize, text: &str| {
        let pad = " ".repeat(n);
        text.lines()
            .map(|l| format!("{pad}{l}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    match function {
        "quote" => {
            count(1)?;
            Ok(Value::String(
                serde_json::to_string(&to_text(&args[0])).expect("a string serialises"),
            ))
        }
        "default" => {
            count(2)?;
            let [fallback, given] = <[Value; 2]>::try_from(args).expect("two arguments");
            Ok(if truthy(&given) { given } else { fallback })
        }
        "toYaml" => {
            count(1)?;
            let text = serde_yaml::to_string(&args[0]).map_err(|e| e.to_string())?;
            Ok(Value::String(text.trim_end_matches('\n').to_string()))
        }
        "indent" | "nindent" => {
            count(2)?;
            let n = width(&args[0])?;
            let text = indent(n, &to_text(&args[1]));
            Ok(Value::String(if function == "nindent" {
                format!("\n{text}")
            } else {
                text
            }))
        }
        other => Err(format!(
            "function {other:?} is beyond the template subset tests/helm_template renders"
        )),
    }
}
