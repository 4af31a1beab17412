//! The alert port's in-memory adapter: keeps every alert, in order.

use super::{CallError, Notifier};
use std::sync::Mutex;

/// Alerts kept in memory: shown in a local run's summary, read by tests.
#[derive(Debug, Default)]
pub struct MemoryNotifier {
    alerts: Mutex<Vec<(String, String)>>,
}

impl MemoryNotifier {
    pub fn new() -> Self {
        MemoryNotifier::default()
    }

    /// Every alert so far: (subject, message).
    pub fn alerts(&self) -> Vec<(String, String)> {
        self.alerts.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

impl Notifier for MemoryNotifier {
    async fn notify(&self, subject: &str, message: &str) -> Result<(), CallError> {
        self.alerts
            .lock()
            .map_err(|_| CallError::from("the alert log is poisoned"))?
            .push((subject.to_owned(), message.to_owned()));
        Ok(())
    }
}
