#!/usr/bin/env python3
"""Writes a SQuAD-format file as an `almanac eval qa` question set: one document per paragraph
(`documents/<article>-<n>.txt`: the article's title, then the paragraph) and `set.jsonl` with the
answerable questions (their gold answers, deduplicated; the paragraph as the document that holds them).

  python3 scripts/eval/squad-set.py ../shared/data/squad-v2-dev-subset/qa.jsonl target/squad-set [--limit N]
  target/debug/almanac eval qa --set target/squad-set/set.jsonl

The input is the subset's qa.jsonl (one question a line: id, title, paragraph_index, context, question,
answers, is_impossible). With --limit, the first N answerable questions in file order. The library
`eval qa` builds holds the paragraphs the questions name (the set format's rule), so retrieval chooses
among those.
"""
import argparse
import json
import os


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("qa_jsonl")
    ap.add_argument("out_dir")
    ap.add_argument("--limit", type=int)
    args = ap.parse_args()

    rows = [json.loads(line) for line in open(args.qa_jsonl, encoding="utf-8") if line.strip()]
    answerable = [r for r in rows if not r["is_impossible"] and r["answers"]]
    if args.limit is not None:
        answerable = answerable[: args.limit]
    paragraphs = {(r["title"], r["paragraph_index"]): r["context"] for r in answerable}

    docs = os.path.join(args.out_dir, "documents")
    os.makedirs(docs, exist_ok=True)
    name = lambda title, n: f"documents/{title}-{n}.txt"  # noqa: E731
    for (title, n), context in sorted(paragraphs.items()):
        with open(os.path.join(args.out_dir, name(title, n)), "w", encoding="utf-8") as f:
            f.write(f"{title.replace('_', ' ')}\n\n{context}\n")
    with open(os.path.join(args.out_dir, "set.jsonl"), "w", encoding="utf-8") as f:
        for r in answerable:
            answers = list(dict.fromkeys(r["answers"]))
            item = {"id": r["id"], "question": r["question"], "answers": answers,
                    "documents": [name(r["title"], r["paragraph_index"])]}
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
    print(f"{len(answerable)} questions over {len(paragraphs)} paragraphs in {args.out_dir}")


if __name__ == "__main__":
    main()
