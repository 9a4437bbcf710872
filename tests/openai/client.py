"""Drives `almanac serve`'s OpenAI-compatible API with OpenAI's official Python client, as an
editor, script or agent would. tests/serve.rs runs one scenario per call and asserts on the JSON
this prints (the Python side only reports what the client saw).

    client.py BASE_URL SCENARIO [ARG...]

BASE_URL is e.g. http://127.0.0.1:PORT/v1; the API key comes from ALMANAC_TEST_API_KEY (any
string when the server needs none).
"""

import json
import os
import sys

import openai

FACT_QUESTION = "Who designed the Zorvath Bridge?"


def client(base_url, key=None):
    return openai.OpenAI(
        base_url=base_url,
        api_key=key or os.environ.get("ALMANAC_TEST_API_KEY", "no-key-needed"),
        max_retries=0,
        timeout=300,
    )


def extension(obj):
    """The `almanac` extension field of a response object (pydantic keeps unknown fields)."""
    return (obj.model_extra or {}).get("almanac")


def whole(c, model, **kwargs):
    r = c.chat.completions.create(model=model, **kwargs)
    choice = r.choices[0]
    return {
        "id": r.id,
        "object": r.object,
        "model": r.model,
        "content": choice.message.content,
        "role": choice.message.role,
        "finish_reason": choice.finish_reason,
        "usage": r.usage.model_dump() if r.usage else None,
        "almanac": extension(r),
    }


def streamed(c, model, **kwargs):
    chunks = []
    content = ""
    finish = None
    usage = None
    extensions = []
    with c.chat.completions.create(
        model=model, stream=True, stream_options={"include_usage": True}, **kwargs
    ) as stream:
        for chunk in stream:
            chunks.append(chunk.object)
            if extension(chunk) is not None:
                extensions.append(extension(chunk))
            if chunk.usage is not None:
                usage = chunk.usage.model_dump()
            for choice in chunk.choices:
                content += choice.delta.content or ""
                finish = choice.finish_reason or finish
    return {
        "chunks": len(chunks),
        "objects": sorted(set(chunks)),
        "content": content,
        "finish_reason": finish,
        "usage": usage,
        "almanac": extensions,
    }


def answers(base_url, model, other_document):
    c = client(base_url)
    question = [{"role": "user", "content": FACT_QUESTION}]
    return {
        "whole": whole(c, model, messages=question, max_tokens=48),
        "streamed": streamed(c, model, messages=question, max_tokens=48),
        "no_retrieval": whole(
            c, model, messages=question, max_tokens=8, extra_body={"almanac": {"retrieval": False}}
        ),
        # The same seed and temperature give the same text; a stop string ends it before itself.
        "seeded": [
            whole(c, model, messages=question, max_tokens=12, temperature=0.9, seed=7)["content"]
            for _ in range(2)
        ],
        "stopped": whole(c, model, messages=question, max_tokens=48, stop=["Quorne"]),
        "scoped_elsewhere": whole(
            c,
            model,
            messages=question,
            max_tokens=4,
            extra_body={"almanac": {"documents": [other_document]}},
        ),
    }


def embeddings(base_url, model, *texts):
    c = client(base_url)
    single = c.embeddings.create(model=model, input=texts[0])
    many = c.embeddings.create(model=model, input=list(texts), encoding_format="float")
    return {
        "model": single.model,
        "single": single.data[0].embedding,
        "many": [d.embedding for d in many.data],
        "indexes": [d.index for d in many.data],
        "usage": single.usage.model_dump(),
    }


def status_error(call):
    try:
        call()
    except openai.APIStatusError as e:
        return {"status": e.status_code, "body": e.body, "retry_after": e.response.headers.get("retry-after")}
    return {"status": 200, "body": None}


def errors(base_url, model, embedding_model):
    c = client(base_url)
    ask = [{"role": "user", "content": "Hello"}]
    # About 3,000 tokens: under the 32 KiB question limit, over a 2,048-token window.
    too_long = "lighthouse keeper " * 1500
    return {
        "unknown_model": status_error(lambda: c.chat.completions.create(model="gpt-4o", messages=ask)),
        "embedder_as_chat_model": status_error(
            lambda: c.chat.completions.create(model=embedding_model, messages=ask)
        ),
        "too_many_messages": status_error(
            lambda: c.chat.completions.create(model=model, messages=ask * 257)
        ),
        "context_window": status_error(
            lambda: c.chat.completions.create(
                model=model, messages=[{"role": "user", "content": too_long}], max_tokens=8
            )
        ),
        "max_tokens_zero": status_error(
            lambda: c.chat.completions.create(model=model, messages=ask, max_tokens=0)
        ),
        "max_tokens_huge": status_error(
            lambda: c.chat.completions.create(model=model, messages=ask, max_tokens=1_000_000)
        ),
        "body_over_limit": status_error(
            lambda: c.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "x" * (1024 * 1024 + 1000)}]
            )
        ),
        "unknown_embedding_model": status_error(
            lambda: c.embeddings.create(model="text-embedding-3-small", input="hi")
        ),
    }


def auth(base_url, key):
    return {
        "wrong_key": status_error(lambda: client(base_url, "wrong").models.list()),
        "right_key": status_error(lambda: client(base_url, key).models.list()),
    }


# Greedy decoding runs this to any max_tokens with the default model (a count, for one, ends early).
LONG_ANSWER = "Write a very long story, at least ten paragraphs, about a lighthouse keeper."


def disconnect(base_url, model):
    """Reads a few chunks of a long answer, then closes the connection."""
    c = client(base_url)
    stream = c.chat.completions.create(
        model=model,
        stream=True,
        max_tokens=1500,
        messages=[{"role": "user", "content": LONG_ANSWER}],
        extra_body={"almanac": {"retrieval": False}},
    )
    seen = 0
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            seen += 1
        if seen >= 3:
            break
    stream.close()
    return {"content_chunks": seen}


def abandon(base_url, model):
    """Asks for a long answer in one piece, and gives up waiting after 3 seconds."""
    c = openai.OpenAI(base_url=base_url, api_key="no-key-needed", max_retries=0, timeout=3)
    try:
        c.chat.completions.create(
            model=model,
            max_tokens=1500,
            messages=[{"role": "user", "content": LONG_ANSWER}],
            extra_body={"almanac": {"retrieval": False}},
        )
    except openai.APITimeoutError:
        return {"timed_out": True}
    return {"timed_out": False}


def models(base_url):
    return [m.model_dump() for m in client(base_url).models.list().data]


def main():
    base_url, scenario, *args = sys.argv[1:]
    result = {
        "answers": answers,
        "embeddings": embeddings,
        "errors": errors,
        "disconnect": disconnect,
        "abandon": abandon,
        "models": models,
        "auth": auth,
    }[scenario](base_url, *args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
