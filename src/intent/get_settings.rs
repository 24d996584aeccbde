//! `settings/get` (and the periodic refresh) → `GetSettings`, published to the device.

use super::{Failure, Target};

/// `GetSettings`, published on the device's `settings` topic when `force` or changed.
pub async fn apply(target: &impl Target, force: bool) -> Result<(), Failure> {
    let settings = target.client().get_settings(target.identity()).await?;
    target.publish_settings(settings, force);
    Ok(())
}
