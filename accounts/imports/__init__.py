"""The house for imports: every step a report takes from upload to the database.

How a file travels through it:

1. ``sheets`` opens the upload (a workbook, or a CSV through ``csvfiles``, which decodes,
   sniffs the delimiter and refuses what it cannot read, naming line and column);
2. ``headers`` reads the header row and plans which column feeds which field;
3. ``specs`` says, per kind (homes, mailboxes, accounts), what each field means and how a cell
   is parsed and checked;
4. ``engine`` streams the checked rows into a staging table (``bulk`` loads it with COPY on
   PostgreSQL, batched inserts elsewhere); on PostgreSQL a plain accounts CSV is COPYed as
   its raw bytes and read in SQL instead (``rawcopy``), any row not plainly fine going back
   through the same readers;
5. ``scope`` checks in SQL that every staged row lies within what the uploader may change;
6. ``engine`` writes everything in one transaction with set-based statements (or rolls back
   on a dry run or any error), records the import, then rechecks the touched homes.

The edges: ``command`` is the base of the ``import_*`` management commands; ``web`` keeps an
upload between preview and confirm and runs it (in a worker or inline); ``views`` are the
upload, preview, confirm, progress and download pages.
"""
