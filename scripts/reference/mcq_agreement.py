#!/usr/bin/env python3
"""Almanac's MMLU picks beside llama.cpp's, question by question (issue 16's reference check).

Builds the same k-shot prompts independently (Hendrycks et al.'s evaluate.py layout: the header
naming the subject, each example as question, "A. ..." lines and "Answer: X", a blank line after
each, the test question ending "Answer:"), tokenizes them with llama.cpp (no BOS: SmolLM2 does not
ask for one; special-token texts not parsed), drops examples from the end while a prompt does not fit
the context window (as Almanac and Hendrycks do), and takes llama.cpp's logits for the next token
(b11549, through llamacpp.py's ctypes session, reusing the cached prefix the prompts share). Its pick
is the letter among " A", " B", " C", " D" with the highest logit (the first on a tie); Almanac's come
from `almanac eval mcq --records FILE` run on the same data.

  almanac eval mcq --data DIR --subjects a,b --shots 5 --limit N --records almanac.jsonl
  target/reference-venv/bin/python scripts/reference/mcq_agreement.py --data DIR --subjects a,b \
      --shots 5 --limit N --records almanac.jsonl --model SmolLM2-135M-Instruct.Q4_1.gguf

Prints one JSON object: per subject and overall, the questions, the agreement, and both accuracies;
also how many questions are near-ties in llama.cpp (its best two letters within --near-tie logits)
and the agreement on the others.
"""
import argparse
import csv
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llamacpp  # noqa: E402

LETTERS = ["A", "B", "C", "D"]


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return [row for row in csv.reader(f)]


def example(row, with_answer):
    text = row[0] + "".join(f"\n{letter}. {row[i + 1]}" for i, letter in enumerate(LETTERS)) + "\nAnswer:"
    return text + (f" {row[5]}\n\n" if with_answer else "")


def prompt(subject, shots, row):
    header = f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n"
    return header + "".join(example(s, True) for s in shots) + example(row, False)


def tokenize(session, text):
    raw = text.encode("utf-8")
    capacity = len(raw) + 8
    while True:
        out = (llamacpp.c_int32 * capacity)()
        n = session.llama.tokenize(session.vocab, raw, len(raw), out, capacity, False, False)
        if n >= 0:
            return list(out[:n])
        capacity = -n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--subjects", required=True)
    ap.add_argument("--shots", type=int, default=5)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--records", help="almanac eval mcq --records output (to compare with)")
    ap.add_argument("--write-fixture", metavar="DIR",
                    help="instead: copy the questions asked into DIR in MMLU's layout, with llama.cpp's letter "
                         "logits for each in DIR/llamacpp.json (the CI check of crates/eval)")
    ap.add_argument("--model", required=True)
    ap.add_argument("--n-ctx", type=int, default=2048, help="the context window Almanac ran with (its context_length setting)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--flash-attn", choices=["auto", "off", "on"], default="auto",
                    help="llama.cpp's flash attention (auto turns it on for the CPU; it keeps attention's sums in f16)")
    ap.add_argument("--near-tie", type=float, default=0.1,
                    help="a question whose best two letters are this close in llama.cpp's logits is a near-tie "
                         "(the threshold of crates/engine/tests/llamacpp_parity.rs)")
    args = ap.parse_args()

    if not args.records and not args.write_fixture:
        raise SystemExit("give --records (to compare) or --write-fixture DIR")
    ours = {}
    if args.records:
        with open(args.records) as f:
            for line in f:
                r = json.loads(line)
                ours[(r["subject"], r["index"])] = r
    fixture = []

    session = llamacpp.Session(llamacpp.Llama(), os.path.abspath(args.model), args.threads, args.n_ctx, args.flash_attn)
    letter_ids = []
    for letter in LETTERS:
        ids = tokenize(session, f" {letter}")
        if len(ids) != 1:
            raise SystemExit(f"' {letter}' is {len(ids)} tokens with this model")
        letter_ids.append(ids[0])

    started = time.time()
    per_subject, disagreements = {}, []
    for subject in args.subjects.split(","):
        dev = read_rows(os.path.join(args.data, "dev", f"{subject}_dev.csv"))
        test = read_rows(os.path.join(args.data, "test", f"{subject}_test.csv"))
        if args.limit is not None:
            test = test[: args.limit]
        counts = {"questions": 0, "agree": 0, "llamacpp_correct": 0, "almanac_correct": 0, "near_ties": 0, "agree_beyond_near_ties": 0}
        for index, row in enumerate(test):
            k = args.shots
            ids = tokenize(session, prompt(subject, dev[:k], row))
            while len(ids) >= args.n_ctx and k > 0:
                k -= 1
                ids = tokenize(session, prompt(subject, dev[:k], row))
            reused = min(llamacpp.common_prefix(session.cached, ids), len(ids) - 1)
            session.keep_prefix(reused)
            session.eval(ids[reused:])
            logits = session.last_logits()
            scores = [logits[i] for i in letter_ids]
            pick = max(range(4), key=lambda i: (scores[i], -i))
            answer = LETTERS.index(row[5])
            if args.write_fixture:
                ordered = sorted(scores, reverse=True)
                fixture.append({"subject": subject, "index": index, "shots": k, "prompt_tokens": len(ids),
                                "letter_logits": scores, "pick": LETTERS[pick], "margin": ordered[0] - ordered[1]})
                continue
            mine = ours.get((subject, index))
            if mine is None:
                raise SystemExit(f"{args.records} has no pick for {subject} question {index}")
            counts["questions"] += 1
            counts["agree"] += pick == mine["choice"]
            counts["llamacpp_correct"] += pick == answer
            counts["almanac_correct"] += mine["choice"] == answer
            ordered = sorted(scores, reverse=True)
            if ordered[0] - ordered[1] <= args.near_tie:
                counts["near_ties"] += 1
            else:
                counts["agree_beyond_near_ties"] += pick == mine["choice"]
            if pick != mine["choice"]:
                disagreements.append({"subject": subject, "index": index, "llamacpp": LETTERS[pick],
                                      "almanac": LETTERS[mine["choice"]], "llamacpp_margin": ordered[0] - ordered[1],
                                      "shots": k, "almanac_shots": mine["shots"]})
        per_subject[subject] = counts
        if args.write_fixture:
            for split, rows in (("dev", dev[: args.shots]), ("test", test)):
                os.makedirs(os.path.join(args.write_fixture, split), exist_ok=True)
                with open(os.path.join(args.write_fixture, split, f"{subject}_{split}.csv"), "w", newline="", encoding="utf-8") as f:
                    csv.writer(f, lineterminator="\n").writerows(rows)

    if args.write_fixture:
        with open(os.path.join(args.write_fixture, "llamacpp.json"), "w") as f:
            json.dump({"reference": llamacpp.build_description(), "model": os.path.basename(args.model),
                       "shots": args.shots, "n_ctx": args.n_ctx, "letters": letter_ids, "questions": fixture}, f, indent=1)
            f.write("\n")
        return

    keys = ["questions", "agree", "llamacpp_correct", "almanac_correct", "near_ties", "agree_beyond_near_ties"]
    total = {key: sum(c[key] for c in per_subject.values()) for key in keys}
    n = max(total["questions"], 1)
    decided = max(total["questions"] - total["near_ties"], 1)
    print(json.dumps({
        "reference": llamacpp.build_description(),
        "shots": args.shots, "limit": args.limit, "n_ctx": args.n_ctx, "flash_attn": args.flash_attn,
        "questions": total["questions"],
        "agreement": total["agree"] / n,
        "near_tie": args.near_tie,
        "near_ties": total["near_ties"],
        "agreement_beyond_near_ties": total["agree_beyond_near_ties"] / decided,
        "llamacpp_accuracy": total["llamacpp_correct"] / n,
        "almanac_accuracy": total["almanac_correct"] / n,
        "subjects": {s: {**c, "agreement": c["agree"] / max(c["questions"], 1),
                         "llamacpp_accuracy": c["llamacpp_correct"] / max(c["questions"], 1),
                         "almanac_accuracy": c["almanac_correct"] / max(c["questions"], 1)}
                     for s, c in per_subject.items()},
        "disagreements": disagreements,
        "seconds": round(time.time() - started, 1),
    }, indent=1))


if __name__ == "__main__":
    main()
