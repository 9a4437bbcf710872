#!/usr/bin/env python3
"""Writes a SQuAD-format file as an `almanac eval qa` question set: one document per paragraph
(`documents/<article>-<n>.txt`: the article's title, then the paragraph) and `set.jsonl` with the
answerable questions (their gold answers, deduplicated; the paragraph as the document that holds them).
Every other paragraph of the input goes into the library too (a `{"library": [...]}` line), so retrieval
picks the right paragraph among all of them as in a real library; --only-named leaves them out.

  python3 scripts/eval/squad-set.py ../shared/data/squad-v2-dev-subset/qa.jsonl target/squad-set [--limit N]
  target/debug/almanac eval qa --set target/squad-set/set.jsonl

The input is the subset's qa.jsonl (one question a line: id, title, paragraph_index, context, question,
answers, is_impossible). With --limit, the first N answerable questions in file order.
"""
import argparse
import json
import os


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("qa_jsonl")
    ap.add_argument("out_dir")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--only-named", action="store_true",
                    help="the library holds only the paragraphs the questions name (easier retrieval)")
    args = ap.parse_args()

    rows = [json.loads(line) for line in open(args.qa_jsonl, encoding="utf-8") if line.strip()]
    answerable = [r for r in rows if not r["is_impossible"] and r["answers"]]
    if args.limit is not None:
        answerable = answerable[: args.limit]
    named = {(r["title"], r["paragraph_index"]) for r in answerable}
    paragraphs = {(r["title"], r["paragraph_index"]): r["context"] for r in rows}
    if args.only_named:
        paragraphs = {key: text for key, text in paragraphs.items() if key in named}

    docs = os.path.join(args.out_dir, "documents")
    os.makedirs(docs, exist_ok=True)
    name = lambda title, n: f"documents/{title}-{n}.txt"  # noqa: E731
    for (title, n), context in sorted(paragraphs.items()):
        with open(os.path.join(args.out_dir, name(title, n)), "w", encoding="utf-8") as f:
            f.write(f"{title.replace('_', ' ')}\n\n{context}\n")
    with open(os.path.join(args.out_dir, "set.jsonl"), "w", encoding="utf-8") as f:
        others = [name(title, n) for (title, n) in sorted(paragraphs) if (title, n) not in named]
        if others:
            f.write(json.dumps({"library": others}, ensure_ascii=False) + "\n")
        for r in answerable:
            answers = list(dict.fromkeys(r["answers"]))
            item = {"id": r["id"], "question": r["question"], "answers": answers,
                    "documents": [name(r["title"], r["paragraph_index"])]}
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
    print(f"{len(answerable)} questions, {len(named)} paragraphs holding their answers, "
          f"{len(paragraphs)} in the library, in {args.out_dir}")


if __name__ == "__main__":
    main()
