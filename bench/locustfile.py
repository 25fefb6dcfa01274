"""Load for bench/load.py: staff reading guidance, managers checking their homes."""

import re

from locust import HttpUser, between, task

GUIDANCE = [
    "/guidance/",
    "/guidance/keep-your-account-active/",
    "/guidance/get-help-from-the-helpdesk/",
    "/guidance/if-nobody-can-open-the-shared-mailbox/",
]


class Staff(HttpUser):
    weight = 1
    wait_time = between(0.5, 1.5)

    @task
    def read_guidance(self):
        for url in GUIDANCE:
            self.client.get(url)


class Manager(HttpUser):
    weight = 1
    wait_time = between(0.5, 1.5)

    def on_start(self):
        page = self.client.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        self.client.post(
            "/accounts/login/",
            {"username": "manager@demo.example", "password": "demo-manager-pass-2026",
             "csrfmiddlewaretoken": token},
            headers={"Referer": self.host + "/accounts/login/"},
        )  # fmt: skip

    @task(3)
    def dashboard(self):
        self.client.get("/dashboard/")

    @task(2)
    def home(self):
        self.client.get("/homes/VN3K7/", name="/homes/[ods]/")
