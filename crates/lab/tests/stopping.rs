//! `Lab::stop` stops a server's whole process tree, also the children of a server
//! that exits at once on SIGTERM and leaves them behind (a shell script that runs its
//! server in the background, as Debian's `rabbitmq-server` does).

use std::path::Path;
use std::time::{Duration, Instant};

use tierform_lab::{descendants, require_isolation, Lab};

#[test]
fn lab_stop_also_stops_the_children_a_server_leaves_behind() {
    if !require_isolation() {
        return;
    }
    let mut lab = Lab::new();
    // The shell dies on SIGTERM (no trap); its background child would live on.
    let pid = lab.start("leaver", &["/bin/sh", "-c", "sleep 600 & wait"], &[]);
    let deadline = Instant::now() + Duration::from_secs(5);
    let child = loop {
        if let Some(&child) = descendants(pid).first() {
            break child;
        }
        assert!(Instant::now() < deadline, "no child below {pid}");
        std::thread::sleep(Duration::from_millis(10));
    };
    lab.stop(pid);
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) {
        // Reparented to init, it may linger as a zombie: that is stopped too.
        if stat
            .rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "child {child} of {pid} outlived stop"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
