#!/usr/bin/env python3
"""Compares two sets of multiple-choice picks question by question: Almanac's (`almanac eval mcq
--records FILE`, JSON Lines) or llama.cpp's (`mcq_agreement.py --write-fixture DIR`, DIR/llamacpp.json),
in any pairing. Used to put Almanac-vs-llama.cpp agreement beside llama.cpp's agreement with itself
under another setting (flash attention on and off), i.e. the numeric noise floor of the model.

  python3 scripts/reference/mcq_compare.py almanac.jsonl fa-off/llamacpp.json
  python3 scripts/reference/mcq_compare.py fa-off/llamacpp.json fa-on/llamacpp.json

Prints one JSON object: questions, agreement, near-ties (the first file's best two letters within
--near-tie), agreement beyond them, and how far apart the two files' letter scores are (the largest
difference of any letter's score relative to letter A: median, 90th percentile, max).
"""
import argparse
import json


def read(path):
    """{(subject, index): [score A, B, C, D]} from either format; scores are logits or log-probs."""
    if path.endswith(".json"):
        return {(q["subject"], q["index"]): q["letter_logits"] for q in json.load(open(path))["questions"]}
    picks = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if "subject" in r:
                picks[(r["subject"], r["index"])] = r["logprobs"]
    return picks


def pick(scores):
    return max(range(4), key=lambda i: (scores[i], -i))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("first")
    ap.add_argument("second")
    ap.add_argument("--near-tie", type=float, default=0.1)
    args = ap.parse_args()
    a, b = read(args.first), read(args.second)
    common = sorted(set(a) & set(b))
    if not common:
        raise SystemExit("the two files share no question")
    agree = near = agree_beyond = 0
    gaps = []
    for key in common:
        x, y = a[key], b[key]
        same = pick(x) == pick(y)
        agree += same
        ordered = sorted(x, reverse=True)
        if ordered[0] - ordered[1] <= args.near_tie:
            near += 1
        else:
            agree_beyond += same
        gaps.append(max(abs((x[i] - x[0]) - (y[i] - y[0])) for i in range(4)))
    gaps.sort()
    n = len(common)
    print(json.dumps({
        "first": args.first, "second": args.second, "questions": n,
        "agreement": round(agree / n, 4), "agree": agree,
        "near_tie": args.near_tie, "near_ties": near,
        "agreement_beyond_near_ties": round(agree_beyond / max(n - near, 1), 4),
        "score_difference": {"median": round(gaps[n // 2], 4), "p90": round(gaps[int(n * 0.9)], 4),
                             "max": round(gaps[-1], 4)},
    }, indent=1))


if __name__ == "__main__":
    main()
