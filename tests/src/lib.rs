//! End-to-end test harness shared by the tests in `tests/tests/`:
//! - [`desktop`]: the real Red5 Desk window under Xvfb, driven through tauri-driver.
//! - [`webdriver`]: a small blocking W3C WebDriver client.
#![forbid(unsafe_code)]

pub mod desktop;
pub mod webdriver;
