"""The ``[auth]`` secrets an AppTest of app.py needs with RAGTUNE_AUTH=oidc: the entry point's sign-in gate checks
them before it lets anyone in (AppTest's ``at.user`` then stands for the signed-in user)."""

COOKIE = "c0ffee" * 8
CLIENT_SECRET = "s3cr3t-client-value"
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": COOKIE, "client_id": "ragtune",
        "client_secret": CLIENT_SECRET,
        "server_metadata_url": "http://localhost:9400/.well-known/openid-configuration"}
