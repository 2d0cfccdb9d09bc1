//! A test that cannot run its fault here says so loudly, and fails in CI
//! (`CI` set), where everything it needs is installed.

/// Skips the calling test, or fails it under CI.
pub(crate) fn skip(why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must run this test, but: {why}"
    );
    eprintln!("SKIPPED (not in CI): {why}");
    println!("SKIPPED (not in CI): {why}");
}
