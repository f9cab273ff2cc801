//! Our barcodes read by peer decoders: Debian's libdmtx (`dmtxread`) for
//! Data Matrix and ZBar (`zbarimg`) for Code 128, from bitmaps CellTrail
//! writes. `scripts/test.sh` installs both (dmtx-utils, zbar-tools); when
//! they are missing the test fails rather than skip.

use std::process::Command;

fn tool(name: &str) -> String {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{name} is needed (apt-get install dmtx-utils zbar-tools)"
    );
    name.to_string()
}

fn tmp(name: &str, content: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("celltrail-peer-{}-{name}", std::process::id()));
    std::fs::write(&p, content).unwrap();
    p
}

#[test]
fn libdmtx_reads_our_data_matrix_symbols() {
    let dmtxread = tool("dmtxread");
    for (i, data) in [
        "=G12341765432170",
        "123456",
        "=G12341765432170&/CHG123417ABC123A",
        "A",
        "CellTrail 2026",
    ]
    .iter()
    .enumerate()
    {
        let s = celltrail_core::datamatrix::encode(data).unwrap();
        let path = tmp(
            &format!("dm{i}.pbm"),
            &celltrail_core::datamatrix::pbm(&s, 6, 2),
        );
        let out = Command::new(&dmtxread).arg(&path).output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            *data,
            "{data}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let _ = std::fs::remove_file(path);
    }
}

#[test]
fn zbar_reads_our_code_128_barcodes() {
    let zbarimg = tool("zbarimg");
    for (i, data) in ["=G12341765432170", "=<S1295A00", "PJJ123C", "ABC123xyz"]
        .iter()
        .enumerate()
    {
        let path = tmp(
            &format!("c128-{i}.pbm"),
            &celltrail_core::code128::pbm(data, 3, 60).unwrap(),
        );
        let out = Command::new(&zbarimg)
            .args(["--quiet", "--raw"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim_end(),
            *data,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let _ = std::fs::remove_file(path);
    }
}
