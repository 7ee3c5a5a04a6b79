//! `cargo xtask deploy-test`: the deployment files proven, not just written.
//!
//! - The Kubernetes manifests under `deploy/k8s/` are validated offline with
//!   `kubernetes-validate --strict` (pinned, from PyPI) against Kubernetes 1.29 and 1.33, and every
//!   file a `kustomization.yaml` names must exist.
//! - `deploy/test/run.sh` builds the image from a release binary and brings `deploy/compose.yaml`
//!   up on a real Docker engine (installed and started when missing), then uses it from the host:
//!   upload, download, a killed API container, a killed worker mid-task, `down -v`.

use std::path::{Path, PathBuf};
use std::process::Command;

const KUBERNETES_VALIDATE: &str = "kubernetes-validate==1.37.0";
/// The oldest and a recent Kubernetes release the manifests must be valid for.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.29.0", "1.33.0"];

pub fn test() -> Result<(), String> {
    k8s()?;
    compose()
}

/// Validates every manifest of `deploy/k8s` (strict: unknown fields fail) and the kustomizations.
pub fn k8s() -> Result<(), String> {
    let bin = crate::services::ensure_python_tools(
        "kubernetes-validate",
        &[KUBERNETES_VALIDATE.to_owned()],
        &["kubernetes-validate"],
    )?;
    let mut manifests = Vec::new();
    let mut kustomizations = Vec::new();
    collect_yaml(Path::new("deploy/k8s"), &mut manifests, &mut kustomizations)?;
    if manifests.is_empty() {
        return Err("no manifests under deploy/k8s".to_owned());
    }
    for kustomization in &kustomizations {
        check_kustomization(kustomization)?;
    }
    let validate = bin.join("kubernetes-validate").display().to_string();
    let files: Vec<String> = manifests.iter().map(|p| p.display().to_string()).collect();
    for version in KUBERNETES_VERSIONS {
        let mut args = vec!["--strict", "--quiet", "-k", version];
        args.extend(files.iter().map(String::as_str));
        crate::run(&validate, &args)?;
    }
    eprintln!(
        "xtask: {} manifests valid (strict) for Kubernetes {}; {} kustomizations name only existing files",
        manifests.len(),
        KUBERNETES_VERSIONS.join(" and "),
        kustomizations.len()
    );
    Ok(())
}

fn collect_yaml(dir: &Path, manifests: &mut Vec<PathBuf>, kustomizations: &mut Vec<PathBuf>) -> Result<(), String> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_yaml(&path, manifests, kustomizations)?;
        } else if path.file_name().is_some_and(|n| n == "kustomization.yaml") {
            kustomizations.push(path);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            manifests.push(path);
        }
    }
    Ok(())
}

/// Every `resources:` entry of a kustomization is a file or a directory that exists.
fn check_kustomization(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut in_resources = false;
    for line in text.lines() {
        if !line.starts_with(' ') && !line.starts_with('-') {
            in_resources = line.trim_end() == "resources:";
            continue;
        }
        if let Some(entry) = line.trim().strip_prefix("- ").filter(|_| in_resources) {
            let target = dir.join(entry.trim());
            if !target.exists() {
                return Err(format!("{} names {}, which does not exist", path.display(), target.display()));
            }
        }
    }
    Ok(())
}

/// Builds the release binary and runs `deploy/test/run.sh` with it and Garage.
fn compose() -> Result<(), String> {
    let target = crate::release_build()?;
    let stowage = std::fs::canonicalize(format!("{target}/release/stowage"))
        .map_err(|e| format!("no release binary in {target}/release: {e}"))?;
    let garage = crate::garage::binary()?;
    eprintln!("$ bash deploy/test/run.sh");
    let status = Command::new("bash")
        .arg("deploy/test/run.sh")
        .env("STOWAGE_BIN", &stowage)
        .env("GARAGE_BIN", &garage)
        .status()
        .map_err(|e| format!("cannot run deploy/test/run.sh: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("deploy/test/run.sh failed ({status})")) }
}
