//! Helpers shared by the CLI's end-to-end tests.

use std::process::{Child, Command};

/// Sends `signal` (`"TERM"`, `"INT"`) to `child`, waits for it to exit, and asserts that it
/// exited successfully: it handled the signal rather than dying of it.
#[cfg(unix)]
pub fn signal_and_expect_clean_exit(child: &mut Child, signal: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{signal} failed");
    let status = child.wait().unwrap();
    assert!(status.success(), "after SIG{signal}: {status}");
}
