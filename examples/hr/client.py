"""Asks clipper about the tutorial's three candidates over HTTP (the standard library only).

usage: python examples/hr/client.py [QUERY_URL] [APP]   (defaults: http://127.0.0.1:1337 hr-hiring)
"""

import json
import sys
import urllib.request

CANDIDATES = [
    [5.0, 3.0, 85.0, 4.5, 2.0],
    [2.0, 2.0, 70.0, 3.0, 1.0],
    [8.0, 4.0, 95.0, 5.0, 3.0],
]


def predict(url, app, candidate):
    request = urllib.request.Request(
        f"{url}/{app}/predict", data=json.dumps({"input": candidate}).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:1337"
    app = sys.argv[2] if len(sys.argv) > 2 else "hr-hiring"
    for candidate in CANDIDATES:
        answer = predict(url, app, candidate)
        verdict = {"1": "hire", "0": "do not hire"}.get(answer["output"], answer["output"])
        note = f" (default: {answer.get('default_explanation')})" if answer["default"] else ""
        print(f"{candidate} -> {answer['output']} ({verdict}){note}")


if __name__ == "__main__":
    main()
