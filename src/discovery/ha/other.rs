//! Any component without a module of its own: its state as it is, and a `Set` that
//! publishes its data (as text, or JSON) on `command_topic`.

use super::Component;

pub struct Other;

impl Component for Other {
    fn name(&self) -> &'static str {
        "other"
    }
}
