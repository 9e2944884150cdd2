//! DEBUG: refused unless `enable-debug-command` permits it (as Redis 7 refuses it), then the subcommands that
//! have a meaning here.

use super::call::Call;
use super::error::{CmdError, CmdResult};

/// DEBUG subcommand [argument …]
pub fn debug(c: &mut Call) -> CmdResult {
    let local = c.session.info.addr.ip().is_loopback();
    if !c.cfg.enable_debug_command.permits(local) {
        return Err(CmdError::err(
            "DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it \
             from a local connection, otherwise you need to set this option in the configuration file, and then \
             restart the server.",
        ));
    }
    let mut a = c.args();
    let sub = a.bytes()?;
    let is = |w: &str| sub.eq_ignore_ascii_case(w.as_bytes());
    if is("help") {
        c.out.help(&[
            "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "LOG <message>",
            "    Write <message> to the server log.",
            "SLEEP <seconds>",
            "    Stop the server for <seconds>. Decimals allowed.",
        ]);
        return Ok(());
    }
    if is("sleep") && a.len() == 1 {
        let secs: f64 = std::str::from_utf8(a.bytes()?)
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|s: &f64| s.is_finite() && *s >= 0.0)
            .ok_or_else(|| CmdError::err("value is not a valid float"))?;
        std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(3600.0)));
        c.out.ok();
        return Ok(());
    }
    if is("log") && a.len() == 1 {
        let message = String::from_utf8_lossy(a.bytes()?).into_owned();
        tracing::warn!("DEBUG LOG: {message}");
        c.out.ok();
        return Ok(());
    }
    Err(CmdError::err(format_args!(
        "unknown subcommand '{}'. Try DEBUG HELP.",
        String::from_utf8_lossy(&sub[..sub.len().min(128)])
    )))
}
