//! The desktop window's security settings, checked so that a change that weakens one fails here:
//! the CSP, `withGlobalTauri`, the main window's capability (exactly the app's commands plus the
//! dialog, opener and drag-and-drop permissions the UI uses), the explicit command list that
//! tauri-build turns into permissions, and the opener's URL scope. It reads the files in the
//! repository and the permissions tauri-build generated for this build, and the configuration
//! compiled into the app.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

include!("../src-tauri/command_names.rs");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: impl AsRef<Path>) -> String {
    let path = root().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json(path: &str) -> Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The CSP as directive → sources, from either form tauri.conf.json allows (string or object).
fn csp_directives(csp: &Value) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    match csp {
        Value::String(s) => {
            for part in s.split(';') {
                let mut words = part.split_whitespace();
                if let Some(name) = words.next() {
                    out.insert(name.to_owned(), words.map(str::to_owned).collect());
                }
            }
        }
        Value::Object(map) => {
            for (name, sources) in map {
                let list = match sources {
                    Value::String(s) => s.split_whitespace().map(str::to_owned).collect(),
                    Value::Array(a) => a
                        .iter()
                        .map(|v| v.as_str().expect("CSP source strings").to_owned())
                        .collect(),
                    other => panic!("CSP directive {name}: unexpected {other}"),
                };
                out.insert(name.clone(), list);
            }
        }
        other => panic!("app.security.csp must be set, found {other}"),
    }
    out
}

fn check_csp(csp: &Value, what: &str) {
    let d = csp_directives(csp);
    let get = |name: &str| -> Vec<String> {
        d.get(name)
            .cloned()
            .unwrap_or_else(|| d["default-src"].clone())
    };
    assert_eq!(
        d.get("default-src").map(Vec::as_slice),
        Some(&["'self'".to_owned()][..]),
        "{what}: default-src must be exactly 'self'"
    );

    let script = get("script-src");
    for bad in [
        "'unsafe-eval'",
        "'unsafe-inline'",
        "'wasm-unsafe-eval'",
        "data:",
        "blob:",
        "*",
        "http:",
        "https:",
    ] {
        assert!(
            !script.iter().any(|s| s == bad),
            "{what}: script-src allows {bad}: {script:?}"
        );
    }
    assert!(
        script.iter().all(|s| s == "'self'"),
        "{what}: script-src must be 'self' only: {script:?}"
    );

    let img: BTreeSet<String> = get("img-src").into_iter().collect();
    let allowed_img: BTreeSet<String> = ["'self'", "data:", "blob:"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(img.is_subset(&allowed_img), "{what}: img-src must be within 'self' data: blob: (a remote image is an exfiltration channel): {img:?}");

    let connect = get("connect-src");
    for source in &connect {
        assert!(
            ["'self'", "ipc:", "http://ipc.localhost"].contains(&source.as_str()),
            "{what}: connect-src allows {source}: the UI fetches nothing from the web (all fetching happens in Rust)"
        );
    }
    for (name, sources) in &d {
        for s in sources {
            let remote = s == "*"
                || s.starts_with("http:")
                || s.starts_with("https:")
                || s.starts_with("ws:")
                || s.starts_with("wss:")
                || (s.contains("://") && s != "http://ipc.localhost");
            assert!(
                !remote || (name == "connect-src" && s == "http://ipc.localhost"),
                "{what}: {name} allows the remote source {s}"
            );
            assert_ne!(s, "'unsafe-eval'", "{what}: {name} allows 'unsafe-eval'");
        }
    }
    assert_eq!(
        get("object-src"),
        ["'none'"],
        "{what}: object-src must be 'none'"
    );
}

#[test]
fn tauri_conf_keeps_the_window_locked_down() {
    let conf = json("tauri.conf.json");
    let app = &conf["app"];
    let security = &app["security"];
    assert_eq!(
        app["withGlobalTauri"],
        Value::Bool(false),
        "withGlobalTauri must be false: the UI imports @tauri-apps/api"
    );
    check_csp(&security["csp"], "app.security.csp");
    // A devCsp, if any, is held to the same rules: a debug build must not be looser.
    if !security["devCsp"].is_null() {
        check_csp(&security["devCsp"], "app.security.devCsp");
    }
    let flag = "dangerousDisableAssetCspModification";
    assert!(
        security[flag].is_null() || security[flag] == Value::Bool(false),
        "{flag} must stay off"
    );
    assert!(
        security["assetProtocol"].is_null()
            || security["assetProtocol"]["enable"] != Value::Bool(true),
        "the asset protocol must stay off: it would let the UI read files by path"
    );
    assert_eq!(security["freezePrototype"], Value::Bool(true));
    assert_eq!(
        security["capabilities"],
        serde_json::json!(["main-window"]),
        "only the main window's capability is enabled"
    );
    assert!(security["dangerousRemoteDomainIpcAccess"].is_null());
    let windows = app["windows"].as_array().expect("app.windows");
    assert_eq!(windows.len(), 1);
    assert_eq!(windows[0]["label"], "main");
    assert!(
        windows[0]["url"].is_null() || windows[0]["url"] == "index.html",
        "the window loads the embedded UI, nothing remote"
    );
    // Built in src-tauri/lib.rs instead, with navigation, new windows and downloads refused.
    assert_eq!(
        windows[0]["create"],
        Value::Bool(false),
        "the main window is built in lib.rs with its navigation guard"
    );
    let lib = read("src-tauri/lib.rs");
    for guard in [
        ".on_navigation(is_app_url)",
        ".on_new_window(|_, _| tauri::webview::NewWindowResponse::Deny)",
        ".on_download(|_, _| false)",
    ] {
        assert!(
            lib.contains(guard),
            "src-tauri/lib.rs must build the main window with {guard}"
        );
    }
    for remote in [
        "https://example.com/",
        "http://localhost:5173/",
        "file:///etc/passwd",
    ] {
        assert!(
            !almanac_desktop::is_app_url(&remote.parse().unwrap()),
            "{remote} must not load in the window"
        );
    }
    assert_eq!(conf["build"]["frontendDist"], "ui/dist");
    assert!(
        conf["build"]["devUrl"].is_null()
            || conf["build"]["devUrl"]
                .as_str()
                .unwrap()
                .starts_with("http://localhost:")
            || conf["build"]["devUrl"]
                .as_str()
                .unwrap()
                .starts_with("http://127.0.0.1:")
    );
}

#[test]
fn the_compiled_in_configuration_is_the_checked_one() {
    let config = almanac_desktop::embedded_config();
    assert!(!config.app.with_global_tauri);
    let csp =
        serde_json::to_value(config.app.security.csp.as_ref().expect("CSP compiled in")).unwrap();
    check_csp(&csp, "compiled-in CSP");
    assert!(!config.app.security.asset_protocol.enable);
}

fn expected_permissions() -> BTreeSet<String> {
    let mut set: BTreeSet<String> = COMMANDS
        .iter()
        .map(|c| format!("allow-{}", c.replace('_', "-")))
        .collect();
    for p in [
        "core:event:allow-listen",
        "core:event:allow-unlisten",
        "dialog:allow-open",
        "dialog:allow-save",
        "opener:allow-open-url",
    ] {
        set.insert(p.to_owned());
    }
    set
}

#[test]
fn only_the_main_window_gets_exactly_the_permissions_the_ui_uses() {
    let dir = root().join("src-tauri/capabilities");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        files.len(),
        1,
        "one capability file, for the main window: {files:?}"
    );
    // Nothing tauri-build would also pick up at the default place.
    assert!(
        !root().join("capabilities").exists(),
        "capabilities/ at the root would be ignored; keep them in src-tauri/capabilities"
    );
    let cap: Value = serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    assert_eq!(cap["identifier"], "main-window");
    assert_eq!(cap["windows"], serde_json::json!(["main"]));
    assert!(
        cap["webviews"].is_null(),
        "no webview other than the main window's"
    );
    assert!(
        cap["remote"].is_null(),
        "no remote origin may call the app's commands"
    );
    assert_ne!(cap["local"], Value::Bool(false));
    assert!(cap["platforms"].is_null() || cap["platforms"].as_array().is_some());

    let mut granted = BTreeSet::new();
    for p in cap["permissions"].as_array().unwrap() {
        let id = match p {
            Value::String(s) => s.clone(),
            Value::Object(o) => {
                let id = o["identifier"].as_str().unwrap().to_owned();
                if id == "opener:allow-open-url" {
                    let urls: BTreeSet<&str> = o["allow"]
                        .as_array()
                        .expect("open-url has an explicit scope")
                        .iter()
                        .map(|e| e["url"].as_str().unwrap())
                        .collect();
                    assert_eq!(
                        urls,
                        BTreeSet::from(["http://*", "https://*", "mailto:*"]),
                        "links open only for http, https and mailto"
                    );
                    assert!(
                        o["allow"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .all(|e| e.get("app").is_none()),
                        "links open with the default browser only"
                    );
                } else {
                    assert!(
                        o.get("allow").is_none() && o.get("deny").is_none(),
                        "{id}: unexpected scope"
                    );
                }
                id
            }
            other => panic!("unexpected permission {other}"),
        };
        assert!(
            !id.ends_with(":default") && id != "default",
            "{id}: grant single permissions, not default sets"
        );
        assert!(granted.insert(id.clone()), "{id} granted twice");
    }
    assert_eq!(granted, expected_permissions());
    // The opener's open-url is granted only with its scope (a bare string would fall back to no scope,
    // and a later `allow-default-urls` would add tel:).
    assert!(
        !granted.contains("opener:allow-default-urls")
            && !granted.contains("opener:allow-open-path")
    );
}

#[test]
fn the_command_list_matches_the_handler_the_ui_and_the_contract() {
    let ours: BTreeSet<&str> = COMMANDS.iter().copied().collect();
    assert_eq!(ours.len(), COMMANDS.len(), "a command listed twice");
    // The invoke handler registers exactly these.
    let lib = read("src-tauri/lib.rs");
    let start = lib
        .find("generate_handler![")
        .expect("generate_handler! in lib.rs")
        + "generate_handler![".len();
    let end = start + lib[start..].find(']').unwrap();
    let handler: BTreeSet<&str> = lib[start..end]
        .split(',')
        .map(|s| s.trim().rsplit("::").next().unwrap().trim())
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        handler, ours,
        "generate_handler! and src-tauri/command_names.rs differ"
    );
    // The UI's Tauri transport calls exactly these.
    let ts = read("ui/src/transport/tauri.ts");
    let mut called = BTreeSet::new();
    for pattern in ["this.call<", "this.stream("] {
        for (i, _) in ts.match_indices(pattern) {
            let rest = &ts[i + pattern.len()..];
            // `this.call<Type>('name'` or `this.stream('name'`
            let rest = if pattern == "this.call<" {
                &rest[rest.find(">('").expect("call<T>('name'") + 2..]
            } else {
                rest
            };
            let rest = rest.strip_prefix('\'').expect("a quoted command name");
            called.insert(rest[..rest.find('\'').unwrap()].to_owned());
        }
    }
    let ours_owned: BTreeSet<String> = ours.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        called, ours_owned,
        "ui/src/transport/tauri.ts calls other commands than the app defines"
    );
}

#[test]
fn tauri_build_generated_one_allow_permission_per_command() {
    let dir = root().join("permissions/autogenerated");
    for command in COMMANDS {
        let path = dir.join(format!("{command}.toml"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (tauri-build writes it)", path.display()));
        let doc: toml::Value = toml::from_str(&text).unwrap();
        let perms = doc["permission"].as_array().unwrap();
        let allow = perms
            .iter()
            .find(|p| {
                p["identifier"].as_str() == Some(&format!("allow-{}", command.replace('_', "-")))
            })
            .unwrap_or_else(|| panic!("{}: no allow permission", path.display()));
        assert_eq!(
            allow["commands"]["allow"].as_array().unwrap(),
            &vec![toml::Value::String(command.to_string())]
        );
    }
    // No stale permission for a command that is gone.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry
            .unwrap()
            .file_name()
            .to_string_lossy()
            .trim_end_matches(".toml")
            .to_owned();
        assert!(
            COMMANDS.contains(&name.as_str()),
            "permissions/autogenerated/{name}.toml is for no command"
        );
    }
}
