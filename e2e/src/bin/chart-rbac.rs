//! Prints the RBAC objects of `charts/ferrocache-operator` (ServiceAccount, ClusterRole, ClusterRoleBinding and the
//! leader election Role and RoleBinding) rendered with the chart's default values, as YAML documents for
//! `kubectl apply -f -`. `e2e/kit.sh` installs them and runs the operator binary with the ServiceAccount's token,
//! so the end-to-end tests exercise the chart's permissions where Helm is not installed.
//!
//!     chart-rbac [RELEASE [NAMESPACE]]      # defaults: ferrocache ferrocache-system
//!
//! The chart is rendered by the same subset renderer the chart and RBAC tests of the operator use.

#[path = "../../../operator/tests/helm_template/mod.rs"]
mod helm_template;

use std::process::ExitCode;

/// The kinds printed; the first three must be present.
const KINDS: [&str; 5] = [
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
];

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let release = args.next().unwrap_or_else(|| "ferrocache".into());
    let namespace = args.next().unwrap_or_else(|| "ferrocache-system".into());
    if release.starts_with('-') || args.next().is_some() {
        eprintln!("usage: chart-rbac [RELEASE [NAMESPACE]]");
        return ExitCode::from(2);
    }
    match render(&release, &namespace) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("chart-rbac: {e}");
            ExitCode::FAILURE
        }
    }
}

fn render(release: &str, namespace: &str) -> Result<String, String> {
    let rendered = helm_template::render(&helm_template::default_values(), release, namespace)?;
    let objects = helm_template::objects(&rendered)?;
    let mut out = String::new();
    for kind in KINDS {
        let mut found = false;
        for (_, object) in objects.iter().filter(|(_, o)| o["kind"] == kind) {
            found = true;
            out.push_str("---\n");
            out.push_str(&serde_yaml::to_string(object).map_err(|e| e.to_string())?);
        }
        if !found && KINDS[..3].contains(&kind) {
            return Err(format!("the chart renders no {kind}"));
        }
    }
    Ok(out)
}
