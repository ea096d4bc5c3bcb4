# ruff: noqa: E501  (requests kept verbatim, one per line)
"""Requests for the seventh fresh tool-routing set, written 2026-12-04 (session 21) by a helper that saw only fresh7_tools.py."""
from typing import Any

DRY_CLEANER_CASES: list[tuple[str, str | None, dict[str, Any]]] = [
    # check_order_status
    (
        "hiya um yeah i dropped some shirts off on monday just wondering if they're done yet the ticket number's 40172",
        "check_order_status",
        {"ticket_number": "40172"},
    ),
    (
        "yeah so i've got the little pink slip here it says 55903 can i come and grab my stuff or what",
        "check_order_status",
        {"ticket_number": "55903"},
    ),
    (
        "is my is my suit back from the er the cleaning yet it's ticket 3318",
        "check_order_status",
        {"ticket_number": "3318"},
    ),
    (
        "morning love my husband's coat's in with you receipt number 70021 is it ready for fetching or not",
        "check_order_status",
        {"ticket_number": "70021"},
    ),
    # get_cleaning_price
    (
        "how much would it be to do a duvet a king size one",
        "get_cleaning_price",
        {"item_type": "duvet"},
    ),
    (
        "um what d'you charge for a two piece like jacket and matching trousers and how long d'you need it for",
        "get_cleaning_price",
        {"item_type": "suit"},
    ),
    (
        "yeah so how much and how long for a frock a long evening one nothing fancy",
        "get_cleaning_price",
        {"item_type": "dress"},
    ),
    (
        "i've got the drapes from the living room big heavy ones what sort of money are we talking to get them done",
        "get_cleaning_price",
        {"item_type": "curtains"},
    ),
    # book_home_collection
    (
        "can your driver pop round and pick up a load of work clothes from 22 elm grove on thursday morning",
        "book_home_collection",
        {"address": "22 elm grove", "day": "thursday", "time_slot": "morning"},
    ),
    (
        "um yeah i can't get down to the shop can someone come and fetch my bits from flat 3 48 station road friday after work like evening time",
        "book_home_collection",
        {"address": "flat 3 48 station road", "day": "friday", "time_slot": "evening"},
    ),
    (
        "we've got a pile of uniforms here at the office 9 harbour street could your van swing by tuesday after lunch and take them",
        "book_home_collection",
        {"address": "9 harbour street", "day": "tuesday", "time_slot": "afternoon"},
    ),
    # cancel_home_collection
    (
        "hi yeah i had a van coming to get my washing er dry cleaning i mean reference dc7712 but i don't need it anymore so scrap that",
        "cancel_home_collection",
        {"booking_reference": "dc7712"},
    ),
    (
        "something's come up so can you just call off the pickup it's booking dc3045",
        "cancel_home_collection",
        {"booking_reference": "dc3045"},
    ),
    (
        "we're moving house so don't bother sending the driver round it was number dc9981",
        "cancel_home_collection",
        {"booking_reference": "dc9981"},
    ),
    # reschedule_home_collection
    (
        "something's come up so i won't be in on wednesday can the pickup be saturday instead reference dc6120",
        "reschedule_home_collection",
        {"booking_reference": "dc6120", "new_day": "saturday"},
    ),
    (
        "can we push the van for dc2207 back to monday please same time is fine",
        "reschedule_home_collection",
        {"booking_reference": "dc2207", "new_day": "monday"},
    ),
    (
        "yeah so um the the van's meant to come thursday but i'm away could you lot do sunday instead it's dc4418",
        "reschedule_home_collection",
        {"booking_reference": "dc4418", "new_day": "sunday"},
    ),
    # report_damaged_garment
    (
        "i picked my blouse up yesterday and there's a massive yellow mark down the front that definitely wasn't there before ticket 61209",
        "report_damaged_garment",
        {"ticket_number": "61209", "description": "massive yellow mark down the front of blouse"},
    ),
    (
        "one of my shirts has gone walkabout ticket number 20884 i gave you five and only got four back in the bag",
        "report_damaged_garment",
        {"ticket_number": "20884", "description": "one shirt missing, gave five and only got four back"},
    ),
    (
        "the lining on my jacket's all ripped now it was fine when i brought it in and i'm not happy ticket 7730",
        "report_damaged_garment",
        {"ticket_number": "7730", "description": "jacket lining all ripped"},
    ),
    # no tool
    (
        "oh hello is that the cleaners hiya you alright",
        None,
        {},
    ),
    (
        "lovely that's great thanks a lot you've been really helpful ta ra",
        None,
        {},
    ),
    (
        "sorry love wrong number i was after the pizza place",
        None,
        {},
    ),
    (
        "what time do you shut on a saturday",
        None,
        {},
    ),
    (
        "do you do alterations as well like taking up trouser hems",
        None,
        {},
    ),
    (
        "is it eco friendly stuff you use or the harsh chemicals only my son's got really sensitive skin",
        None,
        {},
    ),
]

PLUMBER_CASES: list[tuple[str, str | None, dict[str, Any]]] = [
    # book_plumber_visit
    (
        "hiya um my boiler's making a funny banging noise it's not urgent but can someone come round thursday postcode is m14 5qt",
        "book_plumber_visit",
        {"postcode": "m14 5qt", "day": "thursday", "job_type": "boiler"},
    ),
    (
        "yeah so the kitchen sink won't go down the water just sits there can i get someone out on monday i'm at bs3 1ld",
        "book_plumber_visit",
        {"postcode": "bs3 1ld", "day": "monday", "job_type": "blocked_drain"},
    ),
    (
        "the loo keeps running after you flush it could i get one of your lads out next wednesday cf10 2hh",
        "book_plumber_visit",
        {"postcode": "cf10 2hh", "day": "wednesday", "job_type": "tap_or_toilet"},
    ),
    (
        "bedroom radiator's stone cold at the top not an emergency like but can someone come and have a look postcode ls6 2ab",
        "book_plumber_visit",
        {"postcode": "ls6 2ab", "job_type": "radiator"},
    ),
    # cancel_plumber_visit
    (
        "um i booked a plumber pl4471 but my brother in law's sorted it so we don't need anyone now",
        "cancel_plumber_visit",
        {"job_reference": "pl4471"},
    ),
    (
        "can you scrap the appointment pl2093 we're not bothering with it now",
        "cancel_plumber_visit",
        {"job_reference": "pl2093"},
    ),
    (
        "yeah so er we've sold the house so the the visit on friday reference pl8802 you can knock that on the head",
        "cancel_plumber_visit",
        {"job_reference": "pl8802"},
    ),
    # move_plumber_visit
    (
        "something's come up so i can't make friday for the plumber can he come tuesday instead reference pl5510",
        "move_plumber_visit",
        {"job_reference": "pl5510", "new_day": "tuesday"},
    ),
    (
        "i need to shift my appointment pl3367 to saturday if you've got anything",
        "move_plumber_visit",
        {"job_reference": "pl3367", "new_day": "saturday"},
    ),
    (
        "the job pl1204 is down for monday but i'm on shift could we do thursday",
        "move_plumber_visit",
        {"job_reference": "pl1204", "new_day": "thursday"},
    ),
    # report_emergency_leak
    (
        "help there's water pouring through my kitchen ceiling a pipe's gone i'm at 17 cedar avenue",
        "report_emergency_leak",
        {"address": "17 cedar avenue", "severity": "flowing"},
    ),
    (
        "oh god the whole downstairs is under water it's like a swimming pool please send someone now 4 marsh road",
        "report_emergency_leak",
        {"address": "4 marsh road", "severity": "flooding"},
    ),
    (
        "there's a pipe under the stairs that's split and it's dripping steady onto the fuse box i need someone asap 88 king street",
        "report_emergency_leak",
        {"address": "88 king street", "severity": "dripping"},
    ),
    (
        "um a pipe's burst up in the loft and water's coming through the light fitting in a steady stream it's flat 12 riverside court",
        "report_emergency_leak",
        {"address": "flat 12 riverside court", "severity": "flowing"},
    ),
    # get_job_quote
    (
        "roughly what would it set me back to get the outside drain cleared it's backing up",
        "get_job_quote",
        {"job_type": "blocked_drain"},
    ),
    (
        "how much do you lot charge for like swapping out a dripping tap in the bathroom",
        "get_job_quote",
        {"job_type": "tap_or_toilet"},
    ),
    (
        "ballpark figure for servicing a combi before i book anything",
        "get_job_quote",
        {"job_type": "boiler"},
    ),
    # check_plumber_arrival
    (
        "hiya i'm waiting in for the plumber job pl6650 any idea how long he'll be",
        "check_plumber_arrival",
        {"job_reference": "pl6650"},
    ),
    (
        "yeah so i've taken the day off for the plumber and no one's turned up yet where is he it's pl7129",
        "check_plumber_arrival",
        {"job_reference": "pl7129"},
    ),
    (
        "is your fella still coming today reference pl0318 only i've got to get the kids at three",
        "check_plumber_arrival",
        {"job_reference": "pl0318"},
    ),
    # no tool
    (
        "oh hiya sorry just hold on a sec the dog's going mad",
        None,
        {},
    ),
    (
        "brilliant cheers mate you've been a star bye now",
        None,
        {},
    ),
    (
        "did you see the match last night what a shambles",
        None,
        {},
    ),
    (
        "are your engineers gas safe registered",
        None,
        {},
    ),
    (
        "do you take card or is it cash only",
        None,
        {},
    ),
    (
        "is there any sort of guarantee on the work if it goes wrong again",
        None,
        {},
    ),
]
