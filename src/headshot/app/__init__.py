"""``headshot app``: a local web app (Gradio; ``pip install 'headshot[app]'``) on the same library calls as the CLI.

Tabs: Animate, Say, Live (the browser's webcam drives the portrait), Verify. Safe by default: it binds to
127.0.0.1, checks every upload by content, keeps uploads and results in a private temporary folder that
is removed at exit, queues requests, and marks and signs every result as the CLI does.
"""
