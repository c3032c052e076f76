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

/// What a server writes to `/dev/shm` stays in its own mount namespace and goes with
/// it. A killed PostgreSQL leaves its dynamic shared memory segments there: this
/// project's machine had collected 510 of them (1 MB each) from the live tests.
#[test]
fn a_servers_shared_memory_is_its_own_and_goes_with_it() {
    if !require_isolation() {
        return;
    }
    let mut lab = Lab::new();
    let name = format!("lab-shm-probe-{}", std::process::id());
    let script = format!("echo x > /dev/shm/{name} && exec sleep 600");
    let pid = lab.start("shm", &["/bin/sh", "-c", &script], &[]);
    // The server's own view of its /dev/shm.
    let inside = format!("/proc/{pid}/root/dev/shm/{name}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !Path::new(&inside).exists() {
        assert!(Instant::now() < deadline, "{inside} never appeared");
        std::thread::sleep(Duration::from_millis(10));
    }
    let outside = Path::new("/dev/shm").join(&name);
    let leaked = outside.exists();
    let _ = std::fs::remove_file(&outside);
    lab.stop(pid);
    assert!(
        !leaked,
        "the server wrote {} on the machine",
        outside.display()
    );
}
