//! What the commands print for a person, without `println!`'s panic when nobody reads
//! any more (`constellation-mqtt journal | head -1`). A one-shot command's [`say!`]
//! then ends the process quietly, as Unix tools do; a service's [`narrate!`] (the
//! demo's, the simulator's) goes on unread while the service keeps running.
//!
//! [`say!`]: crate::say
//! [`narrate!`]: crate::narrate

use std::io::{ErrorKind, Write};

/// Writes `text` to standard output. A closed reader ends the process with success;
/// any other failure (a full disk behind `>`) is said on standard error and ends it
/// with failure.
pub fn write(text: &[u8]) {
    if let Err(e) = write_out(text) {
        if e.kind() == ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

/// Writes `text` to standard output if anyone reads it: a running service's account
/// of itself is not worth stopping it for.
pub fn narrate(text: &[u8]) {
    let _unread = write_out(text);
}

fn write_out(text: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text)?;
    out.flush()
}

/// `println!` for a one-shot command's output, through [`write`].
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::console::write(format!("{}\n", format_args!($($arg)*)).as_bytes())
    };
}

/// `println!` for a running service's account of itself, through [`narrate()`].
#[macro_export]
macro_rules! narrate {
    ($($arg:tt)*) => {
        $crate::console::narrate(format!("{}\n", format_args!($($arg)*)).as_bytes())
    };
}
