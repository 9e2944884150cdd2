//! Redis' quoting of arguments on one line (`sdssplitargs`): the inline protocol and the configuration file
//! both split lines this way.

/// A quote is not closed, or a closing quote is followed by something other than a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unbalanced quotes")]
pub struct Unbalanced;

/// Splits an inline line into arguments like Redis' `sdssplitargs`: whitespace separates, `"…"` supports
/// `\n \r \t \b \a \\ \"` and `\xHH` escapes, `'…'` supports only `\'`. A closing quote must be followed by a
/// space or the end of the line.
pub fn split_args(line: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), Unbalanced> {
    let mut i = 0;
    loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line.len() {
            return Ok(());
        }
        let mut arg = Vec::new();
        match line[i] {
            b'"' => i = read_double_quoted(line, i + 1, &mut arg)?,
            b'\'' => i = read_single_quoted(line, i + 1, &mut arg)?,
            _ => {
                while i < line.len() && !line[i].is_ascii_whitespace() {
                    arg.push(line[i]);
                    i += 1;
                }
            }
        }
        out.push(arg);
    }
}

fn after_closing_quote(line: &[u8], i: usize) -> Result<usize, Unbalanced> {
    match line.get(i) {
        None => Ok(i),
        Some(c) if c.is_ascii_whitespace() => Ok(i),
        Some(_) => Err(Unbalanced),
    }
}

fn read_double_quoted(line: &[u8], mut i: usize, arg: &mut Vec<u8>) -> Result<usize, Unbalanced> {
    loop {
        match line.get(i) {
            None => return Err(Unbalanced),
            Some(b'"') => return after_closing_quote(line, i + 1),
            Some(b'\\') if i + 3 < line.len() && line[i + 1] == b'x' => {
                match (hex(line[i + 2]), hex(line[i + 3])) {
                    (Some(h), Some(l)) => {
                        arg.push(h * 16 + l);
                        i += 4;
                    }
                    _ => {
                        arg.push(b'x');
                        i += 2;
                    }
                }
            }
            Some(b'\\') if i + 1 < line.len() => {
                arg.push(match line[i + 1] {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 8,
                    b'a' => 7,
                    other => other,
                });
                i += 2;
            }
            Some(&c) => {
                arg.push(c);
                i += 1;
            }
        }
    }
}

fn read_single_quoted(line: &[u8], mut i: usize, arg: &mut Vec<u8>) -> Result<usize, Unbalanced> {
    loop {
        match line.get(i) {
            None => return Err(Unbalanced),
            Some(b'\'') => return after_closing_quote(line, i + 1),
            Some(b'\\') if line.get(i + 1) == Some(&b'\'') => {
                arg.push(b'\'');
                i += 2;
            }
            Some(&c) => {
                arg.push(c);
                i += 1;
            }
        }
    }
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}
