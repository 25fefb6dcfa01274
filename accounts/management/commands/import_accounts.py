from accounts.imports.command import ImportCommand


class Command(ImportCommand):
    help = "Upsert accounts from a CSV file (see README for the columns)."
    kind = "accounts"
