//! Page chrome: the boxes a site puts around an article (consent and cookie banners, newsletter
//! and paywall boxes, related-links lists, comment sections, sidebars). The readability pass
//! drops menus and footers but lets some of these through, and whatever comes through reaches the
//! model's prompt; so they go first, by the cues readability-style extractors use: structure and
//! ARIA roles, id/class/aria-label words, a box's own short text next to an action button, its
//! heading, and link density.
//!
//! The article itself is protected: the element whose paragraphs hold the most text, and every
//! element around it, are never removed, whatever their names say (`<body class="has-comments">`).

use std::collections::{HashMap, HashSet};

use dom_query::{Document, NodeId, NodeRef};

/// Boxes larger than this many nodes are not a consent box, a pitch or a link list; the bound
/// keeps each check small, so a page of thousands of nested boxes costs linear time.
const SMALL_BOX: usize = 300;
const LINK_LIST_NODES: usize = 3_000;

/// Removes the page's chrome from `doc`, leaving the article and what surrounds it structurally.
pub(crate) fn remove_chrome(doc: &Document) {
    let guard = Guard::new(doc);
    let mut gone = Removed::default();
    // A chrome heading standing alone before its list: "Related" + <ul> of links.
    for heading in doc.select("h2, h3, h4, h5, h6").nodes().to_vec() {
        if gone.contains(&heading) || guard.surrounds(&heading) || !is_small(&heading, 50) {
            continue;
        }
        let Some(next) = heading.next_element_sibling() else {
            continue;
        };
        if heading_kind(&heading.text()) == Some(HeadingKind::Links)
            && !guard.surrounds(&next)
            && is_link_list(&next)
        {
            gone.remove(&next);
            gone.remove(&heading);
        }
    }
    for node in doc.select("body *").nodes().to_vec() {
        if gone.contains(&node) || guard.surrounds(&node) {
            continue;
        }
        if is_chrome(&node) && !guard.holds_much_of_the_text(&node) {
            gone.remove(&node);
        }
    }
}

/// Nodes taken out of the tree, with everything inside them.
#[derive(Default)]
struct Removed(HashSet<NodeId>);

impl Removed {
    fn contains(&self, node: &NodeRef) -> bool {
        self.0.contains(&node.id)
    }

    fn remove(&mut self, node: &NodeRef) {
        self.0.insert(node.id);
        self.0.extend(node.descendants_it().map(|d| d.id));
        node.remove_from_parent();
    }
}

fn name_is(node: &NodeRef, names: &[&str]) -> bool {
    node.node_name()
        .is_some_and(|n| names.iter().any(|name| n.eq_ignore_ascii_case(name)))
}

/// Whether `node` has fewer than `limit` nodes inside it.
fn is_small(node: &NodeRef, limit: usize) -> bool {
    node.descendants_it().take(limit).count() < limit
}

fn is_chrome(node: &NodeRef) -> bool {
    let name = node
        .node_name()
        .map(|n| n.to_ascii_lowercase())
        .unwrap_or_default();
    if is_chrome_by_structure(node, &name) || named_as_chrome(node) || is_fixed(node) {
        return true;
    }
    let boxy = matches!(
        name.as_str(),
        "div" | "section" | "aside" | "p" | "footer" | "header" | "ul" | "ol" | "details" | "span"
    );
    boxy && (is_action_box(node) || is_headed_chrome(node) || is_link_list(node))
}

/// Elements that are chrome by what they are: dialogs, navigation, sidebars, embedded frames and
/// forms (a form holds controls, not prose: newsletter signups, search boxes, comment boxes).
fn is_chrome_by_structure(node: &NodeRef, name: &str) -> bool {
    if matches!(name, "dialog" | "nav" | "iframe" | "form" | "aside") {
        return true;
    }
    let role = node.attr("role").map(|r| r.to_ascii_lowercase());
    if matches!(
        role.as_deref(),
        Some("dialog" | "alertdialog" | "navigation" | "complementary" | "contentinfo")
    ) {
        return true;
    }
    node.attr("aria-modal")
        .is_some_and(|m| m.eq_ignore_ascii_case("true"))
}

/// Words that sites name their chrome with, matched as whole words of ids, classes, ARIA labels
/// and data attributes (`cookie-banner`, `NewsletterSignup`, `c-related_links`).
const CHROME_WORDS: &[&str] = &[
    // consent
    "cookie",
    "cookies",
    "consent",
    "gdpr",
    "ccpa",
    "cmp",
    "onetrust",
    "didomi",
    "cookiebot",
    "usercentrics",
    "truste",
    "quantcast",
    // newsletter and paywall
    "newsletter",
    "newsletters",
    "subscribe",
    "subscription",
    "signup",
    "paywall",
    "regwall",
    "piano",
    "meter",
    "metered",
    // related and recommended
    "related",
    "recommended",
    "recommendations",
    "recirculation",
    "outbrain",
    "taboola",
    "trending",
    "popular",
    "mostread",
    // comments
    "comment",
    "comments",
    "disqus",
    "replies",
    "respond",
    "discussion",
    // sharing, ads, overlays
    "share",
    "sharing",
    "social",
    "promo",
    "advert",
    "advertisement",
    "ad",
    "ads",
    "sponsored",
    "popup",
    "modal",
    "overlay",
    "toast",
    "sidebar",
    // tables of contents and rating widgets
    "toc",
    "rating",
    "ratings",
];

fn named_as_chrome(node: &NodeRef) -> bool {
    node.attrs().iter().any(|a| {
        let key: &str = &a.name.local;
        let named = matches!(key, "id" | "class" | "aria-label") || key.starts_with("data-");
        named && a.value.len() <= 200 && words(&a.value).any(|w| CHROME_WORDS.contains(&w.as_str()))
    })
}

/// Lowercase words of an attribute value, split at punctuation and camelCase humps.
fn words(value: &str) -> impl Iterator<Item = String> + '_ {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in value.chars() {
        if !c.is_alphanumeric() {
            previous_lower = false;
            out.push(std::mem::take(&mut word));
            continue;
        }
        if c.is_uppercase() && previous_lower {
            out.push(std::mem::take(&mut word));
        }
        previous_lower = c.is_lowercase();
        word.extend(c.to_lowercase());
    }
    out.push(word);
    out.into_iter().filter(|w| !w.is_empty())
}

/// Boxes pinned over the page (`position: fixed` or `sticky`) are overlays, not the article.
fn is_fixed(node: &NodeRef) -> bool {
    node.attr("style").is_some_and(|style| {
        let style: String = style
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        style.contains("position:fixed") || style.contains("position:sticky")
    })
}

/// A short box whose text asks for consent, a subscription or a signup next to a button that
/// acts on it ("We use cookies… [Accept all]", "Get the briefing in your inbox [Sign up]").
fn is_action_box(node: &NodeRef) -> bool {
    if !is_small(node, SMALL_BOX) {
        return false;
    }
    let text = node.text().to_lowercase();
    // A pitch inside the article is one short sentence; a paragraph longer than that is prose.
    let limit = if name_is(node, &["p", "span"]) {
        240
    } else {
        700
    };
    if text.len() > limit {
        return false;
    }
    let asks = [
        "cookie",
        "consent",
        "your privacy",
        "personal data",
        "newsletter",
        "inbox",
        "sign up",
        "subscribe",
        "subscriber",
        "free articles",
        "keep reading",
        "continue reading",
        "unlock",
    ]
    .iter()
    .any(|cue| text.contains(cue));
    asks && node
        .descendants_it()
        .filter(|d| {
            name_is(d, &["button", "a", "input"])
                || d.attr("role")
                    .is_some_and(|r| r.eq_ignore_ascii_case("button"))
        })
        .any(|control| {
            let label = control.text().to_lowercase();
            let label = label.trim();
            let value = control
                .attr("value")
                .map(|v| v.to_lowercase())
                .unwrap_or_default();
            [label, value.as_str()].iter().any(|l| is_action_label(l))
        })
}

fn is_action_label(label: &str) -> bool {
    const ACTIONS: &[&str] = &[
        "accept",
        "agree",
        "reject",
        "decline",
        "allow",
        "manage",
        "settings",
        "preferences",
        "subscribe",
        "register",
        "continue",
        "ok",
        "close",
        "dismiss",
        "start",
        "join",
        "try",
        "×",
        "✕",
    ];
    const PHRASES: &[&str] = &["sign up", "sign in", "log in", "got it", "no thanks"];
    if label.is_empty() || label.len() > 40 {
        return false;
    }
    PHRASES.iter().any(|p| label.contains(p))
        || label
            .split(|c: char| !c.is_alphanumeric() && c != '×' && c != '✕')
            .any(|w| ACTIONS.contains(&w))
}

#[derive(Debug, PartialEq)]
enum HeadingKind {
    /// Lists of other pages: related, recommended, most read.
    Links,
    /// Readers' comments.
    Comments,
    /// A newsletter or subscription pitch.
    Pitch,
}

/// What a box's heading says it is.
fn heading_kind(heading: &str) -> Option<HeadingKind> {
    let h: String = heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_ascii_digit())
        .collect();
    let h = h
        .trim_matches(|c: char| !c.is_alphanumeric())
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    const LINKS: &[&str] = &[
        "related",
        "read more",
        "read next",
        "more from",
        "more stories",
        "more on this",
        "you may also like",
        "you might also like",
        "recommended",
        "most read",
        "most popular",
        "trending",
        "popular now",
        "see also",
        "elsewhere on",
        "on this page",
        "in this article",
        "contents",
        "table of contents",
    ];
    // Exact, so an article's "Comments from residents" section stays.
    const COMMENTS: &[&str] = &[
        "comments",
        "comment",
        "leave a reply",
        "leave a comment",
        "join the conversation",
        "reader comments",
        "responses",
        "show comments",
        "discussion",
    ];
    const PITCH: &[&str] = &["subscribe", "sign up", "get our", "support our", "get the"];
    if COMMENTS.contains(&h.as_str()) {
        Some(HeadingKind::Comments)
    } else if LINKS.iter().any(|c| h.starts_with(c)) {
        Some(HeadingKind::Links)
    } else if h.contains("newsletter") || PITCH.iter().any(|c| h.starts_with(c)) {
        Some(HeadingKind::Pitch)
    } else {
        None
    }
}

/// A box that opens with a heading naming it as chrome: a related list (only when it is mostly
/// links, so an article's "Related work" section stays), comments, or a pitch.
fn is_headed_chrome(node: &NodeRef) -> bool {
    let Some(first) = node.first_element_child() else {
        return false;
    };
    if !is_small(&first, 50) {
        return false;
    }
    let heading_like = name_is(
        &first,
        &["h1", "h2", "h3", "h4", "h5", "h6", "header", "strong"],
    ) || (name_is(&first, &["span", "div", "p"]) && text_len(&first) <= 40);
    if !heading_like {
        return false;
    }
    match heading_kind(&first.text()) {
        Some(HeadingKind::Links) => link_density(node) > 0.5,
        Some(HeadingKind::Comments) => true,
        Some(HeadingKind::Pitch) => {
            is_small(node, SMALL_BOX)
                && node.text().len() <= 700
                && node
                    .descendants_it()
                    .any(|d| name_is(&d, &["a", "button", "input"]))
        }
        None => false,
    }
}

/// A list or box that is mostly links to elsewhere: three or more, holding most of its text.
fn is_link_list(node: &NodeRef) -> bool {
    if !name_is(
        node,
        &["ul", "ol", "div", "section", "aside", "footer", "p"],
    ) || !is_small(node, LINK_LIST_NODES)
    {
        return false;
    }
    let links = node
        .descendants_it()
        .filter(|d| name_is(d, &["a"]) && d.has_attr("href"))
        .count();
    links >= 3 && link_density(node) > 0.7
}

fn link_density(node: &NodeRef) -> f32 {
    let total = text_len(node);
    if total == 0 {
        return 0.0;
    }
    let linked: usize = node
        .descendants_it()
        .filter(|d| name_is(d, &["a"]))
        .map(|a| text_len(&a))
        .sum();
    linked as f32 / total as f32
}

fn text_len(node: &NodeRef) -> usize {
    node.text().split_whitespace().map(str::len).sum()
}

/// Keeps the article: the element whose own paragraphs hold the most text, every element around
/// it, and any box that holds a good share of all paragraph text.
struct Guard {
    /// The article's element and its ancestors.
    around: HashSet<NodeId>,
    paragraph_total: usize,
}

impl Guard {
    fn new(doc: &Document) -> Guard {
        let mut by_parent: HashMap<NodeId, (NodeRef, usize)> = HashMap::new();
        let mut paragraph_total = 0;
        for p in doc.select("p, pre").nodes().iter() {
            let len = text_len(p);
            paragraph_total += len;
            if let Some(parent) = p.parent() {
                by_parent.entry(parent.id).or_insert((parent, 0)).1 += len;
            }
        }
        let around = by_parent
            .into_values()
            .max_by_key(|(_, sum)| *sum)
            .map(|(primary, _)| {
                std::iter::once(primary.id)
                    .chain(primary.ancestors_it(None).map(|a| a.id))
                    .collect()
            })
            .unwrap_or_default();
        Guard {
            around,
            paragraph_total,
        }
    }

    fn surrounds(&self, node: &NodeRef) -> bool {
        self.around.contains(&node.id)
    }

    /// 40 % or more of all paragraph text: too much of the page to be a box around it.
    fn holds_much_of_the_text(&self, node: &NodeRef) -> bool {
        let paragraphs: usize = node
            .descendants_it()
            .filter(|d| name_is(d, &["p", "pre"]))
            .map(|p| text_len(&p))
            .sum();
        self.paragraph_total > 0 && paragraphs * 5 >= self.paragraph_total * 2
    }
}
