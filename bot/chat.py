"""Chat with the running bot in a terminal (standard library only).

    python bot/chat.py [--url http://localhost:5005] [--metadata '{"customer_id": ...}']

``make shell CUSTOMER=cus_0001`` passes the signed identity metadata a host website
would send (``make identity CUSTOMER=cus_0001`` prints it), so the bot treats you as that
customer until the token expires.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
import uuid


def send(url: str, sender: str, text: str, metadata: dict[str, object]) -> list[dict]:
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
    parser.add_argument(
        "--metadata", default="{}", help="identity metadata (JSON) sent with every message"
    )
    args = parser.parse_args()
    try:
        metadata = json.loads(args.metadata)
    except json.JSONDecodeError as error:
        sys.exit(f"--metadata is not JSON: {error}")
    if not isinstance(metadata, dict):
        sys.exit("--metadata must be a JSON object")
    sender = f"shell-{uuid.uuid4().hex[:8]}"
    customer = metadata.get("customer_id")
    who = f"as {customer}" if customer else "anonymously"
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
        except urllib.error.HTTPError as error:
            print(f"(the bot refused the message: HTTP {error.code} {error.read().decode()[:300]})")
            continue
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
