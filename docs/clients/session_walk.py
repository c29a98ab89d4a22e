"""Log in once, visit /profile a few times, log out: the lesson as a user lives it, with httpx.

    pip install httpx
    python3 docs/clients/session_walk.py [username] [password] [visits]
    COATCHECK_URL=http://localhost:8080 python3 docs/clients/session_walk.py ravi gold-member 9

Each visit prints the status and the instance that answered (the x-served-by header).
httpx.Client keeps the cookies between requests, as a browser (or curl -b/-c) would.
"""

import os
import sys

import httpx


def main() -> int:
    base = os.environ.get("COATCHECK_URL", "http://localhost:8080")
    user = sys.argv[1] if len(sys.argv) > 1 else "testuser"
    password = sys.argv[2] if len(sys.argv) > 2 else "testpass"
    visits = int(sys.argv[3]) if len(sys.argv) > 3 else 6

    with httpx.Client(base_url=base, timeout=5.0) as client:
        login = client.post("/login", json={"username": user, "password": password})
        print(f"login as {user}: {login.status_code} {login.headers.get('x-served-by')}")
        if login.status_code != 200:
            print(login.json().get("message"))
            return 1

        ok = 0
        for i in range(1, visits + 1):
            profile = client.get("/profile")
            print(f"profile {i}: {profile.status_code} {profile.headers.get('x-served-by')}")
            if profile.status_code == 200:
                ok += 1
            else:
                # The 401 says why: no_cookie, bad_signature, unknown_session or expired.
                print(f"  {profile.json().get('reason')}: {profile.json().get('message')}")
        print(f"logged in on {ok} of {visits} visits")

        logout = client.post("/logout")
        print(f"logout: {logout.text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
