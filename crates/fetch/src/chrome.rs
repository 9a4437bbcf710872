//! Page chrome: the boxes a site puts around an article (consent and cookie banners, newsletter
//! and paywall boxes, related-links lists, comment sections, sidebars). The readability pass
//! drops menus and footers but lets some of these through, and whatever comes through reaches the
//! model's prompt; so they go first, by the cues readability-style extractors use: structure and
//! ARIA roles, id/class/aria-label words, a box's own short text next to an action button, its
//! heading, and link density.
//!
//! The article itself is protected: the element whose paragraphs hold the most text, and every
//! element around it, are never removed, whatever their names say (`<body class="has-comments">`).

use dom_query::{Document, NodeRef};

/// Removes the page's chrome from `doc`, leaving the article and what surrounds it structurally.
pub(crate) fn remove_chrome(doc: &Document) {
    let guard = Guard::new(doc);
    // A chrome heading standing alone before its list: "Related" + <ul> of links.
    for heading in doc.select("h2, h3, h4, h5, h6").nodes().to_vec() {
        if is_detached(&heading) || guard.protects(&heading) {
            continue;
        }
        let Some(next) = heading.next_element_sibling() else {
            continue;
        };
        if heading_kind(&heading.text()) == Some(HeadingKind::Links)
            && is_link_list(&next)
            && !guard.protects(&next)
        {
            next.remove_from_parent();
            heading.remove_from_parent();
        }
    }
    let candidates = doc.select("body *").nodes().to_vec();
    for node in &candidates {
        if is_detached(node) || guard.protects(node) {
            continue;
        }
        if is_chrome(node) {
            node.remove_from_parent();
        }
    }
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
    let text = node.text().to_lowercase();
    // A pitch inside the article is one short sentence; a paragraph longer than that is prose.
    let limit = if node.is("p, span") { 240 } else { 700 };
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
        .descendants()
        .iter()
        .filter(|d| d.is("button, a, input, [role=button]"))
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
    let heading_like = first.is("h1, h2, h3, h4, h5, h6, header, strong")
        || (first.is("span, div, p") && text_len(&first) <= 40);
    if !heading_like {
        return false;
    }
    match heading_kind(&first.text()) {
        Some(HeadingKind::Links) => link_density(node) > 0.5,
        Some(HeadingKind::Comments) => true,
        Some(HeadingKind::Pitch) => {
            node.text().len() <= 700 && node.descendants().iter().any(|d| d.is("a, button, input"))
        }
        None => false,
    }
}

/// A list or box that is mostly links to elsewhere: three or more, holding most of its text.
fn is_link_list(node: &NodeRef) -> bool {
    if !node.is("ul, ol, div, section, aside, footer, p") {
        return false;
    }
    let links = node
        .descendants()
        .iter()
        .filter(|d| d.is("a[href]"))
        .count();
    links >= 3 && link_density(node) > 0.7
}

fn link_density(node: &NodeRef) -> f32 {
    let total = text_len(node);
    if total == 0 {
        return 0.0;
    }
    let linked: usize = node
        .descendants()
        .iter()
        .filter(|d| d.is("a"))
        .map(text_len)
        .sum();
    linked as f32 / total as f32
}

fn text_len(node: &NodeRef) -> usize {
    node.text().split_whitespace().map(str::len).sum()
}

fn is_detached(node: &NodeRef) -> bool {
    !node.ancestors(None).iter().any(|a| a.is_document())
}

/// Keeps the article: the element whose own paragraphs hold the most text, every element around
/// it, and any box that holds a good share of all paragraph text.
struct Guard<'a> {
    primary: Option<NodeRef<'a>>,
    paragraph_total: usize,
}

impl<'a> Guard<'a> {
    fn new(doc: &'a Document) -> Guard<'a> {
        let mut by_parent: Vec<(NodeRef<'a>, usize)> = Vec::new();
        let mut paragraph_total = 0;
        for p in doc.select("p, pre").nodes().iter() {
            let len = text_len(p);
            paragraph_total += len;
            if let Some(parent) = p.parent() {
                match by_parent.iter_mut().find(|(n, _)| n.id == parent.id) {
                    Some((_, sum)) => *sum += len,
                    None => by_parent.push((parent, len)),
                }
            }
        }
        let primary = by_parent
            .into_iter()
            .max_by_key(|(_, sum)| *sum)
            .map(|(n, _)| n);
        Guard {
            primary,
            paragraph_total,
        }
    }

    fn protects(&self, node: &NodeRef) -> bool {
        let Some(primary) = &self.primary else {
            return false;
        };
        if primary.id == node.id || primary.ancestors(None).iter().any(|a| a.id == node.id) {
            return true;
        }
        let paragraphs: usize = node
            .descendants()
            .iter()
            .filter(|d| d.is("p, pre"))
            .map(text_len)
            .sum();
        paragraphs * 5 >= self.paragraph_total * 2 && self.paragraph_total > 0
    }
}
