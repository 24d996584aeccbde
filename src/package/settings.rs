//! A package's settings: asked for when it starts (its device finds them, retained, on
//! `settings`), then every `constellation.settings_refresh_s` when that is set.

use super::context::Context;
use super::queue::{Job, Origin};
use super::state::Package;
use super::work::submit_own;
use crate::intent::Intent;
use std::sync::Arc;
use std::time::Duration;

/// Asks for `package`'s settings now, then at each refresh until the lifecycle drains.
pub(super) async fn run(cx: Arc<Context>, package: Arc<Package>) {
    let refresh_s = cx.config.constellation.settings_refresh_s;
    loop {
        let origin = Origin {
            topic: format!("{}/settings", package.base_topic),
            payload: String::new(),
        };
        let intent = Intent::GetSettings { force: false };
        submit_own(&cx, &package, Job { intent, origin });
        if refresh_s == 0 {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(refresh_s)) => {}
            () = cx.lifecycle.drain.cancelled() => return,
        }
    }
}
