"""Chat with the running bot in a terminal (standard library only).

    python bot/chat.py [--url http://localhost:5005] [--customer cus_0001]
    python bot/chat.py --print-hash cus_0001

With ``--customer`` every message carries the identity metadata a host website
would send (the hash is computed from ``IDENTITY_SECRET`` in the environment or
``.env``), so the bot treats you as that customer.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ENV_FILE = Path(__file__).resolve().parent.parent / ".env"


def identity_secret() -> str:
    """Reads IDENTITY_SECRET from the environment, else from ``.env``."""
    secret = os.environ.get("IDENTITY_SECRET")
    if secret:
        return secret
    if ENV_FILE.exists():
        for line in ENV_FILE.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "IDENTITY_SECRET":
                return value.strip().strip("'\"")
    sys.exit("IDENTITY_SECRET is not set (run `make env`).")


def customer_hash(customer_id: str) -> str:
    """The hex HMAC-SHA256 a host website sends for this customer."""
    return hmac.new(identity_secret().encode(), customer_id.encode(), hashlib.sha256).hexdigest()


def send(url: str, sender: str, text: str, metadata: dict[str, str]) -> list[dict]:
    """Posts one message to the REST channel and returns the bot's replies."""
    body = json.dumps({"sender": sender, "message": text, "metadata": metadata}).encode()
    request = urllib.request.Request(
        f"{url}/webhooks/rest/webhook", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read().decode())


def main() -> None:
    """Reads lines from the terminal and prints the bot's answers."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--url", default="http://localhost:5005")
    parser.add_argument("--customer", help="chat as this verified customer (e.g. cus_0001)")
    parser.add_argument(
        "--print-hash", metavar="CUSTOMER_ID", help="print the identity hash and exit"
    )
    args = parser.parse_args()
    if args.print_hash:
        print(customer_hash(args.print_hash))
        return
    metadata = {}
    if args.customer:
        metadata = {"customer_id": args.customer, "customer_hash": customer_hash(args.customer)}
    sender = f"shell-{uuid.uuid4().hex[:8]}"
    who = f"as {args.customer}" if args.customer else "anonymously"
    print(f"Chatting {who} with {args.url} (Ctrl-D to quit). 你好 / hello!")
    while True:
        try:
            text = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if not text:
            continue
        try:
            replies = send(args.url, sender, text, metadata)
        except urllib.error.URLError as error:
            print(f"(cannot reach the bot at {args.url}: {error.reason}; is `make run` running?)")
            continue
        for reply in replies:
            if "text" in reply:
                print(f"bot> {reply['text']}")
            for button in reply.get("buttons", []):
                print(f"     [{button['title']}] -> {button['payload']}")
            if "image" in reply:
                print(f"     (image: {reply['image']})")


if __name__ == "__main__":
    main()
