//! Tidy checks: the architecture invariants of `ARCHITECTURE.md` that a test can check by
//! reading the workspace's manifests and sources (in the spirit of rust-analyzer's tidy
//! tests). Each failure names the file and the rule it breaks.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The workspace root (this package's manifest directory).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One workspace member: its directory and parsed manifest.
struct Member {
    dir: PathBuf,
    name: String,
    manifest: toml::Table,
}

impl Member {
    /// The names of its normal (not dev, not build) dependencies.
    fn dependencies(&self) -> BTreeSet<String> {
        self.manifest
            .get("dependencies")
            .and_then(|d| d.as_table())
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default()
    }
}

fn members() -> Vec<Member> {
    let text = std::fs::read_to_string(root().join("Cargo.toml")).expect("root Cargo.toml");
    let workspace: toml::Table = text.parse().expect("root Cargo.toml parses");
    let paths = workspace["workspace"]["members"]
        .as_array()
        .expect("workspace.members");
    paths
        .iter()
        .map(|p| {
            let dir = root().join(p.as_str().expect("member path"));
            let text = std::fs::read_to_string(dir.join("Cargo.toml")).expect("member manifest");
            let manifest: toml::Table = text.parse().expect("member manifest parses");
            let name = manifest["package"]["name"]
                .as_str()
                .expect("package.name")
                .to_string();
            Member {
                dir,
                name,
                manifest,
            }
        })
        .collect()
}

fn member(name: &str) -> Member {
    members()
        .into_iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| {
            panic!("workspace member {name} (renamed? update tests/tidy.rs and ARCHITECTURE.md)")
        })
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_crate_takes_the_workspace_lints() {
    for m in members() {
        let inherits = m
            .manifest
            .get("lints")
            .and_then(|l| l.get("workspace"))
            .and_then(|w| w.as_bool())
            == Some(true);
        assert!(
            inherits,
            "{}: add `[lints] workspace = true` so the workspace lints (missing_docs, …) apply",
            m.dir.join("Cargo.toml").display()
        );
    }
}

#[test]
fn dependencies_point_one_way() {
    // (crate, dependencies it must not have, why)
    let rules: &[(&str, &[&str], &str)] = &[
        (
            "eddy-topologies",
            &[
                "eddy-actors",
                "eddy-client",
                "eddy-streams",
                "eddy-connect",
                "eddy-node",
                "tokio",
                "actix",
                "actix-rt",
                "fjall",
                "kafka-protocol",
            ],
            "topologies is pure and synchronous: no I/O, no async, no actors",
        ),
        (
            "eddy-actors",
            &[
                "kafka-protocol",
                "eddy-client",
                "eddy-streams",
                "eddy-connect",
                "eddy-node",
            ],
            "actors knows neither the Kafka protocol crate nor the crates above it",
        ),
        (
            "eddy-client",
            &[
                "eddy-actors",
                "eddy-topologies",
                "eddy-streams",
                "eddy-connect",
                "eddy-node",
                "fjall",
                "actix",
            ],
            "the client is a plain tokio Kafka client, usable against any Kafka cluster",
        ),
        (
            "eddy-streams",
            &["eddy-node", "eddy-connect", "kafka-protocol"],
            "a streams application talks to nodes only through the Kafka client",
        ),
        (
            "eddy-connect",
            &["eddy-node", "eddy-streams", "fjall", "kafka-protocol"],
            "connectors talk to nodes only through the Kafka client, even inside a node",
        ),
        (
            "eddy-node",
            &["fjall"],
            "the node reaches its storage only through the actors of eddy-actors",
        ),
    ];
    let mut broken = Vec::new();
    for (name, forbidden, why) in rules {
        let deps = member(name).dependencies();
        for f in *forbidden {
            if deps.contains(*f) {
                broken.push(format!("{name} depends on {f}: {why}"));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn only_the_stores_open_fjall() {
    let with_fjall: BTreeSet<String> = members()
        .into_iter()
        .filter(|m| m.dependencies().contains("fjall"))
        .map(|m| m.name)
        .collect();
    let allowed: BTreeSet<String> = ["eddy-actors", "eddy-streams"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        with_fjall, allowed,
        "fjall belongs to a node's stores (eddy-actors) and an application's state stores \
         (eddy-streams) only"
    );
    // Inside eddy-streams, only the state store module names fjall.
    let streams = member("eddy-streams");
    for file in rust_files(&streams.dir.join("src")) {
        let text = std::fs::read_to_string(&file).expect("read source");
        if file.file_name().is_some_and(|n| n == "state_store.rs") {
            continue;
        }
        assert!(
            !text.contains("fjall::"),
            "{}: only state_store.rs opens fjall in eddy-streams",
            file.display()
        );
    }
}

#[test]
fn streams_and_connect_take_only_supervision_from_the_actors() {
    // They run in any program; from eddy-actors they use only its supervision bookkeeping
    // and fault points, never a node's actors or stores.
    for name in ["eddy-streams", "eddy-connect"] {
        let m = member(name);
        for file in rust_files(&m.dir.join("src")) {
            let text = std::fs::read_to_string(&file).expect("read source");
            for (at, _) in text.match_indices("eddy_actors::") {
                let rest = &text[at + "eddy_actors::".len()..];
                assert!(
                    rest.starts_with("supervision") || rest.starts_with("fault"),
                    "{}: {name} uses eddy_actors::{}; it may use only \
                     eddy_actors::supervision and eddy_actors::fault",
                    file.display(),
                    rest.chars().take(40).collect::<String>()
                );
            }
        }
    }
}

#[test]
fn topologies_do_no_io_and_no_async() {
    let dir = member("eddy-topologies").dir.join("src");
    for file in rust_files(&dir) {
        let text = std::fs::read_to_string(&file).expect("read source");
        for needle in [
            "async fn",
            ".await",
            "std::fs",
            "std::net",
            "std::thread",
            "tokio::",
        ] {
            assert!(
                !text.contains(needle),
                "{}: `{needle}` in topologies/, which is pure and synchronous",
                file.display()
            );
        }
    }
}

#[test]
fn one_actor_per_file() {
    for m in members() {
        for file in rust_files(&m.dir.join("src")) {
            let text = std::fs::read_to_string(&file).expect("read source");
            let actors = text.matches("impl Actor for ").count();
            assert!(
                actors <= 1,
                "{}: {actors} actors in one file; give each actor a file of its own",
                file.display()
            );
        }
    }
}

#[test]
fn every_crate_says_its_role() {
    for m in members() {
        let lib = m.dir.join("src/lib.rs");
        if !lib.exists() {
            continue;
        }
        let text = std::fs::read_to_string(&lib).expect("read lib.rs");
        let doc_lines = text.lines().take_while(|l| l.starts_with("//!")).count();
        assert!(
            doc_lines >= 2,
            "{}: start with crate docs (`//!`) that say what the crate is for",
            lib.display()
        );
    }
}

#[test]
fn every_topic_config_is_documented_as_acting_or_not() {
    let doc = std::fs::read_to_string(root().join("docs").join("runtime-semantics.md"))
        .expect("docs/runtime-semantics.md");
    let section = doc
        .split("## 9. Topic configs")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("a section 9 on topic configs");
    let (acting, inert) = section
        .split_once("**change nothing**")
        .expect("the section names what changes nothing");
    for def in eddy::actors::topic_config::TOPIC_CONFIGS {
        let named = |text: &str| text.contains(&format!("`{}`", def.name));
        let listed = if def.enforced {
            named(acting)
        } else {
            named(inert)
        };
        assert!(
            listed,
            "{} ({}) is not where docs/runtime-semantics.md §9 says it belongs",
            def.name,
            if def.enforced {
                "acts"
            } else {
                "changes nothing"
            }
        );
    }
}
