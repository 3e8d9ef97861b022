"""Asks clipper about the tutorial's three candidates over HTTP (requests).

usage: python examples/hr/client.py [QUERY_URL] [APP]   (defaults: http://127.0.0.1:1337 hr-hiring)
"""
import sys

import requests

CANDIDATES = [
    [5.0, 3.0, 85.0, 4.5, 2.0],
    [2.0, 2.0, 70.0, 3.0, 1.0],
    [8.0, 4.0, 95.0, 5.0, 3.0],
]


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:1337"
    app = sys.argv[2] if len(sys.argv) > 2 else "hr-hiring"
    for candidate in CANDIDATES:
        answer = requests.post(f"{url}/{app}/predict", json={"input": candidate}, timeout=5).json()
        verdict = {"1": "hire", "0": "do not hire"}.get(answer["output"], answer["output"])
        note = f" (default: {answer.get('default_explanation')})" if answer["default"] else ""
        print(f"{candidate} -> {answer['output']} ({verdict}){note}")


if __name__ == "__main__":
    main()
