//! `log[/<level>]` → `WriteLog`.

use super::payload::text;
use super::{Failure, Intent, Target};
use crate::constellation::model::LogLevel;

/// A log line at `level` (info when absent): `info`, `warn`, `warning` or `error`.
pub fn decode(level: Option<&str>, payload: &[u8]) -> Result<Intent, String> {
    let level = match level {
        None => LogLevel::Info,
        Some(l) => LogLevel::parse(l)
            .ok_or_else(|| format!("unknown log level {l:?} (info, warn, warning or error)"))?,
    };
    let message = text(payload)?;
    if message.is_empty() {
        return Err("the log message is empty".into());
    }
    Ok(Intent::WriteLog {
        level,
        message: message.to_owned(),
    })
}

/// `WriteLog`.
pub async fn apply(target: &impl Target, level: LogLevel, message: &str) -> Result<(), Failure> {
    Ok(target
        .client()
        .write_log(target.identity(), level, message)
        .await?)
}
