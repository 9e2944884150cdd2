//! FUNCTION: Redis 7 function libraries. The engine runs no Lua yet, so there is never a library to delete;
//! FUNCTION FLUSH answers as Redis does on a server without any, which clients and Redis' own test suite send
//! before their work.

use super::call::Call;
use super::error::{CmdError, CmdResult};

/// FUNCTION FLUSH [ASYNC|SYNC]
pub fn function_flush(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    if let Some(mode) = a.optional() {
        if !(mode.eq_ignore_ascii_case(b"async") || mode.eq_ignore_ascii_case(b"sync"))
            || !a.is_empty()
        {
            return Err(CmdError::err(
                "FUNCTION FLUSH only supports SYNC|ASYNC option",
            ));
        }
    }
    c.out.ok();
    Ok(())
}
