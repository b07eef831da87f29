//! The seccomp allow-list from a program's side: what programs use works, the rest is denied
//! with an ordinary error.

use super::*;

#[test]
fn system_interfaces_work() {
    let mut req = request(
        Language::C,
        fixture("sandbox", "system_calls"),
        TestSuite::None,
    );
    req.limits.wall_time = Duration::from_secs(60);
    let report = run(&req);
    assert_eq!(
        report.output.as_deref(),
        Some("checks done, 0 failed\n"),
        "{report:#?}"
    );
    assert_status(&report, Status::Passed);
}

#[test]
fn calls_outside_the_allow_list_fail_with_enosys() {
    let mut req = request(
        Language::C,
        fixture("sandbox", "denied_calls"),
        TestSuite::None,
    );
    req.limits.wall_time = Duration::from_secs(60);
    let report = run(&req);
    assert_status(&report, Status::Passed);
    let output = report.output.unwrap();
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines.len(), 15, "{output}");
    for line in &lines[..14] {
        assert!(line.ends_with(" ENOSYS"), "{line}\n{output}");
    }
    assert_eq!(lines[14], "still running");
}
