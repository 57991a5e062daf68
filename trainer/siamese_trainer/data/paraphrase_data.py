"""A small synthetic paraphrase set, generated from templates: customer-support questions by intent.

Written for this project (no external source; same licence as the package). Each of the ``INTENTS`` has a
handful of hand-written phrasings; a generated question is one phrasing with a random opener and ending
("hi ", "?", " thanks", ...). Two questions of one intent are paraphrases (duplicates), of two intents
not. Several intents share words ("cancel my order" / "cancel my subscription", "change my password" /
"change my email"), so word overlap alone does not solve it. It is a demo and test set, not a benchmark.

``write_csv(path, layout)`` writes any of the training CSV layouts (``siamese_trainer.data.tables``):
``pairs`` (``a,b,label``), ``triplets``, ``text`` (``text,label``) or ``dialog`` (``dialog,label``: a
greeting, the agent's reply and the question, as a JSON list of turns).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
from siamese_sdk.atomic import write_text_atomic

INTENTS: dict[str, tuple[str, ...]] = {
    "reset_password": (
        "how do i reset my password",
        "how can i change my password",
        "i forgot my password",
        "what should i do if i forgot my password",
        "i can't remember my password",
        "help me reset my password",
        "how to change the password of my account",
        "my password does not work anymore",
    ),
    "cancel_order": (
        "how do i cancel my order",
        "i want to cancel an order",
        "can i cancel my purchase",
        "please cancel my order",
        "how to cancel an order i placed",
        "stop my order from shipping",
    ),
    "track_order": (
        "where is my order",
        "how can i track my package",
        "when will my order arrive",
        "track my shipment",
        "my package has not arrived yet",
        "what is the status of my delivery",
    ),
    "refund": (
        "how do i get a refund",
        "i want my money back",
        "can i get a refund for my purchase",
        "how long does a refund take",
        "refund my order",
        "return an item for a refund",
    ),
    "delete_account": (
        "how do i delete my account",
        "i want to close my account",
        "remove my account permanently",
        "how can i deactivate my profile",
        "delete all my data and my account",
    ),
    "change_address": (
        "how do i change my shipping address",
        "update my delivery address",
        "i moved and need to change my address",
        "can i edit the address on my order",
        "change where my order is shipped",
    ),
    "payment_methods": (
        "which payment methods do you accept",
        "can i pay with paypal",
        "do you take credit cards",
        "what are the ways to pay",
        "is cash on delivery available",
    ),
    "contact_support": (
        "how can i talk to a human",
        "i need to contact customer support",
        "what is your phone number",
        "how do i reach customer service",
        "can i chat with an agent",
    ),
    "lost_card": (
        "i lost my credit card",
        "my card was stolen",
        "block my card",
        "someone stole my bank card",
        "how do i freeze my card",
    ),
    "opening_hours": (
        "what time do you open",
        "when are you open",
        "what are your opening hours",
        "are you open on sunday",
        "until when is the store open",
    ),
    "change_email": (
        "how do i change my email address",
        "update the email on my account",
        "i want to use a different email",
        "can i edit my login email",
    ),
    "cancel_subscription": (
        "how do i cancel my subscription",
        "stop my monthly plan",
        "end my membership",
        "i want to unsubscribe from the plan",
        "how to turn off auto renewal",
    ),
}
OPENERS = ("", "", "hi ", "hello, ", "please ", "quick question: ", "hey, ")
ENDINGS = ("", "", "?", " please", " thanks", "!", " asap")
GREETINGS = ("hi", "hello", "good morning", "hey there", "hi, i need help")
REPLIES = ("hello, how can i help you?", "hi! what can i do for you?", "welcome, how may i help?")


def question(rng: np.random.Generator, intent: str) -> str:
    """One generated question of ``intent``: a phrasing with a random opener and ending."""
    phrasings = INTENTS[intent]
    return f"{OPENERS[rng.integers(len(OPENERS))]}{phrasings[rng.integers(len(phrasings))]}{ENDINGS[rng.integers(len(ENDINGS))]}"


def dialog(rng: np.random.Generator, intent: str) -> list[str]:
    """A three-turn dialog: a greeting, the agent's reply, then a question of ``intent``."""
    return [GREETINGS[rng.integers(len(GREETINGS))], REPLIES[rng.integers(len(REPLIES))], question(rng, intent)]


def rows(layout: str, n: int, seed: int = 0, intents: int | None = None) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)`` of ``n`` generated rows in ``layout`` (pairs, triplets, text, dialog) over the first ``intents`` intents."""
    rng = np.random.default_rng(seed)
    names = list(INTENTS)[: intents or len(INTENTS)]
    if len(names) < 2:
        raise ValueError("need at least 2 intents")

    def two() -> tuple[str, str]:
        i, j = rng.choice(len(names), 2, replace=False)
        return names[i], names[j]

    if layout == "pairs":
        out = []
        for k in range(n):
            same = k % 2 == 0
            x, y = two()
            a, b = question(rng, x), question(rng, x if same else y)
            while same and a == b:
                b = question(rng, x)
            out.append([a, b, "1" if same else "0"])
        return ["a", "b", "label"], out
    if layout == "triplets":
        out = []
        for _ in range(n):
            x, y = two()
            a, p = question(rng, x), question(rng, x)
            while p == a:
                p = question(rng, x)
            out.append([a, p, question(rng, y)])
        return ["anchor", "positive", "negative"], out
    if layout == "text":
        return ["text", "label"], [[question(rng, names[k % len(names)]), names[k % len(names)]] for k in range(n)]
    if layout == "dialog":
        return ["dialog", "label"], [[json.dumps(dialog(rng, names[k % len(names)])), names[k % len(names)]] for k in range(n)]
    raise ValueError(f"layout {layout!r} unknown; expected pairs, triplets, text or dialog")


def write_csv(path: str | Path, layout: str, n: int = 2000, seed: int = 0, intents: int | None = None) -> Path:
    """Write ``n`` generated rows as a training CSV (atomically); returns ``path``."""
    header, body = rows(layout, n, seed, intents)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(body)
    return write_text_atomic(path, buf.getvalue())
