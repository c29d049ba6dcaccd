"""Kinds of junk a curator finds in scraped or generated instruction data, planted into clean rows (bench/quality.py).

Each kind turns a clean row (and a random source) into a junk row: same prompt, a junk response, or a response that
belongs to another prompt. Deterministic under the given random.Random.
"""
from __future__ import annotations

import base64
import random
import string

LOREM = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et "
         "dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex "
         "ea commodo consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu "
         "fugiat nulla pariatur. Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt "
         "mollit anim id est laborum.")
CODE = ['''import os\n\ndef list_files(root):\n    for dirpath, _, names in os.walk(root):\n        for name in names:\n            print(os.path.join(dirpath, name))\n\nif __name__ == "__main__":\n    list_files(".")''',
        '''function debounce(fn, wait) {\n  let timer = null;\n  return (...args) => {\n    clearTimeout(timer);\n    timer = setTimeout(() => fn.apply(this, args), wait);\n  };\n}\nmodule.exports = { debounce };''',
        '''SELECT customer_id, COUNT(*) AS orders\nFROM orders\nWHERE created_at >= DATE '2024-01-01'\nGROUP BY customer_id\nHAVING COUNT(*) > 3\nORDER BY orders DESC;''']
OTHER_SCRIPT = ["Сначала посчитаем, сколько яблок осталось у Маши после того, как она отдала часть друзьям. Затем "
                "умножим результат на цену одного яблока и получим ответ. Ответ: двенадцать рублей.",
                "首先我们计算每个人分到的苹果数量，然后把剩下的苹果加起来。这样我们就得到了最后的答案，一共是十二个苹果。",
                "まず、りんごの数を数えます。次に、友だちにあげた数を引きます。最後に、残りのりんごの値段を計算します。答えは十二円です。"]
HTML = ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>Page not found</title>'
        '<link rel="stylesheet" href="/static/css/main.css"></head><body><div class="cookie-banner">We use cookies '
        'to improve your experience. <a href="/privacy">Learn more</a><button id="accept">Accept</button></div>'
        '<div id="root"></div><script src="/static/js/bundle.min.js"></script></body></html>')
REFUSALS = ["I'm sorry, but I can't help with that request.",
            "As an AI language model, I cannot assist with this. Please consult a qualified professional.",
            "I apologize, but I am unable to provide an answer to this question."]
DONT_KNOW = ["I don't know.", "Not sure.", "idk", "No idea, sorry."]
EMOJI = "😀😂🤣😍😎🤔🙄😴🥳🤯👍👀🔥💯🎉🌈🍕🚀⭐❤"


def random_letters(row, rng, other):
    return "".join(rng.choice(string.ascii_lowercase + "     ") for _ in range(rng.randint(200, 400)))


def dont_know(row, rng, other):
    return rng.choice(DONT_KNOW)


def repeated_word(row, rng, other):
    return " ".join([rng.choice(["the", "answer", "yes", "ok"])] * rng.randint(150, 300))


def unrelated_code(row, rng, other):
    return rng.choice(CODE)


def base64_noise(row, rng, other):
    return base64.b64encode(bytes(rng.getrandbits(8) for _ in range(rng.randint(150, 300)))).decode()


def lorem_ipsum(row, rng, other):
    return LOREM


def other_script(row, rng, other):
    return rng.choice(OTHER_SCRIPT)


def emoji_spam(row, rng, other):
    return "".join(rng.choice(EMOJI) for _ in range(rng.randint(100, 200)))


def html_page(row, rng, other):
    return HTML


def number_list(row, rng, other):
    start = rng.randint(0, 50)
    return ", ".join(str(i) for i in range(start, start + rng.randint(80, 150)))


def refusal(row, rng, other):
    return rng.choice(REFUSALS)


def mismatched(row, rng, other):
    """The response of another row (of another source): a shuffled join, the commonest junk of all."""
    return other["response"]


KINDS = {f.__name__: f for f in (random_letters, dont_know, repeated_word, unrelated_code, base64_noise, lorem_ipsum,
                                 other_script, emoji_spam, html_page, number_list, refusal, mismatched)}


def plant(row: dict, kind: str, rng: random.Random, other: dict) -> dict:
    return {"prompt": row["prompt"], "response": KINDS[kind](row, rng, other), "junk": kind,
            "source": row.get("source")}
