"""The clinic register: every screening and booked series revision kept in one SQLite database,
with a hash-chained journal nobody can quietly rewrite.

One more store at the edge, like records and saved plans: the pure core never knows a plan came
from here. `store` opens, creates and migrates the file (one transaction per command); `journal`
appends and verifies the chain and checks every row against the entry that wrote it; `events`
holds what the commands write and read (screenings, bookings, a patient's history).
"""
