# ruff: noqa: E501  (requests kept verbatim, one per line)
from typing import Any

# Third fresh set of caller requests (ASR-like: lower case, no punctuation, fillers).
# Written by a helper that saw only /work/fresh3/tools.py and the CASES format.

COURIER_CASES: list[tuple[str, str | None, dict[str, Any]]] = [
    # track_parcel (4)
    (
        "um hi where's my package the tracking number is jd0045219",
        "track_parcel",
        {"tracking_number": "jd0045219"},
    ),
    (
        "yeah so my delivery hasn't turned up it was meant to come yesterday the number's hx7732810",
        "track_parcel",
        {"tracking_number": "hx7732810"},
    ),
    (
        "can you tell me when parcel ab123456 is going to get here",
        "track_parcel",
        {"tracking_number": "ab123456"},
    ),
    (
        "i ordered some shoes last week and still nothing uh the reference is kp992017 any idea "
        "where it's got to",
        "track_parcel",
        {"tracking_number": "kp992017"},
    ),
    # reschedule_delivery (4)
    (
        "i won't be home on tuesday could you bring parcel rt5580213 on thursday instead",
        "reschedule_delivery",
        {"tracking_number": "rt5580213", "day": "thursday"},
    ),
    (
        "uh nobody's in during the week so can the delivery for mn402177 come saturday",
        "reschedule_delivery",
        {"tracking_number": "mn402177", "day": "saturday"},
    ),
    (
        "hi yeah my package zq300145 is due tomorrow but i'm at work all day can you make it friday",
        "reschedule_delivery",
        {"tracking_number": "zq300145", "day": "friday"},
    ),
    (
        "is it possible to push vd618830 back to monday",
        "reschedule_delivery",
        {"tracking_number": "vd618830", "day": "monday"},
    ),
    # redirect_parcel (3)
    (
        "i'll be out when it comes so can you leave parcel bx881204 with my neighbour at 14 oak road",
        "redirect_parcel",
        {"tracking_number": "bx881204", "address": "14 oak road"},
    ),
    (
        "um i'd rather pick it up myself can you send lt556019 to the post office on high street",
        "redirect_parcel",
        {"tracking_number": "lt556019", "address": "the post office on high street"},
    ),
    (
        "yeah so i've just moved house could cf204478 go to 22 mill lane instead of the old place",
        "redirect_parcel",
        {"tracking_number": "cf204478", "address": "22 mill lane"},
    ),
    # arrange_collection (3)
    (
        "hi i need someone to come and pick up a parcel i'm sending it's from sw1a 2aa on wednesday",
        "arrange_collection",
        {"postcode": "sw1a 2aa", "day": "wednesday"},
    ),
    (
        "can one of your drivers come by friday to grab a box off me my postcode is m4 6ab",
        "arrange_collection",
        {"postcode": "m4 6ab", "day": "friday"},
    ),
    (
        "uh i've got a return to send back could you collect it monday from ls2 9jt",
        "arrange_collection",
        {"postcode": "ls2 9jt", "day": "monday"},
    ),
    # report_damaged_parcel (3)
    (
        "my parcel turned up all crushed and the vase inside is in pieces tracking gt771203",
        "report_damaged_parcel",
        {"tracking_number": "gt771203"},
    ),
    (
        "um the box arrived but half the stuff that should be in it is missing the number on it is "
        "pw448812",
        "report_damaged_parcel",
        {"tracking_number": "pw448812"},
    ),
    (
        "hi yeah the package came soaking wet and the books are ruined it's kc220954",
        "report_damaged_parcel",
        {"tracking_number": "kc220954"},
    ),
    # shipping_quote (3)
    (
        "how much would it cost to send a 5 kilo parcel to france",
        "shipping_quote",
        {"weight_kg": 5.0, "destination_country": "france"},
    ),
    (
        "uh what's the price for posting about 2.5 kg to australia",
        "shipping_quote",
        {"weight_kg": 2.5, "destination_country": "australia"},
    ),
    (
        "yeah so i want to send a box of presents to my sister in canada it weighs 12 kilos what "
        "would that come to",
        "shipping_quote",
        {"weight_kg": 12.0, "destination_country": "canada"},
    ),
    # no tool (6)
    ("what time do you open on saturdays", None, {}),
    ("do you deliver on sundays at all", None, {}),
    ("hi is there anywhere to park at your depot on station road", None, {}),
    ("how much are the boxes and bubble wrap if i buy them from you", None, {}),
    ("thanks so much you've been really helpful have a good day", None, {}),
    ("um do your drivers take card or is it cash only", None, {}),
]

GYM_CASES: list[tuple[str, str | None, dict[str, Any]]] = [
    # book_class (4)
    (
        "hi can i get a spot in the yoga class on wednesday",
        "book_class",
        {"class_name": "yoga", "day": "wednesday"},
    ),
    (
        "um i fancy doing spin on saturday morning is there room for me",
        "book_class",
        {"class_name": "spin", "day": "saturday"},
    ),
    (
        "yeah so put me down for pilates thursday please",
        "book_class",
        {"class_name": "pilates", "day": "thursday"},
    ),
    (
        "could you sign me up for the boxercise session on monday evening",
        "book_class",
        {"class_name": "boxercise", "day": "monday"},
    ),
    # cancel_class_booking (4)
    (
        "i can't make yoga on friday anymore can you take me off the list",
        "cancel_class_booking",
        {"class_name": "yoga", "day": "friday"},
    ),
    (
        "uh i booked spin for tuesday but something's come up so you can give my place to someone "
        "else",
        "cancel_class_booking",
        {"class_name": "spin", "day": "tuesday"},
    ),
    (
        "hi i need to drop out of zumba on sunday",
        "cancel_class_booking",
        {"class_name": "zumba", "day": "sunday"},
    ),
    (
        "sorry i won't be coming to pilates on wednesday after all",
        "cancel_class_booking",
        {"class_name": "pilates", "day": "wednesday"},
    ),
    # freeze_membership (3)
    (
        "i'm going travelling for six weeks can i pause my membership while i'm away",
        "freeze_membership",
        {"weeks": 6},
    ),
    (
        "um i broke my ankle so i need to put everything on hold for about four weeks till it heals",
        "freeze_membership",
        {"weeks": 4},
    ),
    (
        "i'm having an operation could you stop taking my payments for two weeks and i'll be back "
        "after",
        "freeze_membership",
        {"weeks": 2},
    ),
    # cancel_membership (3)
    (
        "i want to quit the gym for good my member number is 558120",
        "cancel_membership",
        {"member_id": "558120"},
    ),
    (
        "hi yeah i'm moving away so i'd like to end my membership the id is gx4410",
        "cancel_membership",
        {"member_id": "gx4410"},
    ),
    (
        "uh i just don't use it anymore so i don't want to be a member at all my number's m7723",
        "cancel_membership",
        {"member_id": "m7723"},
    ),
    # book_personal_trainer (3)
    (
        "can i book a one to one with a trainer on thursday",
        "book_personal_trainer",
        {"day": "thursday"},
    ),
    (
        "i'd like someone to show me how to lift properly just me and a coach maybe on saturday",
        "book_personal_trainer",
        {"day": "saturday"},
    ),
    (
        "um have you got a pt free on monday i want a session",
        "book_personal_trainer",
        {"day": "monday"},
    ),
    # report_broken_equipment (3)
    (
        "the treadmill by the window isn't working the belt keeps stopping dead",
        "report_broken_equipment",
        {"machine": "treadmill"},
    ),
    (
        "hi just to let you know the rowing machine upstairs has had it the handle's snapped off",
        "report_broken_equipment",
        {"machine": "rowing machine"},
    ),
    (
        "uh one of the cable machines has a frayed cable someone's going to get hurt on it",
        "report_broken_equipment",
        {"machine": "cable machine"},
    ),
    # no tool (6)
    ("what time do you close on bank holidays", None, {}),
    ("how much is it to join if i'm a student", None, {}),
    ("is the car park free for members or do i need a ticket", None, {}),
    ("do you have a sauna or a steam room", None, {}),
    ("hiya just ringing to say the new spin instructor is brilliant thanks", None, {}),
    ("um what classes are on this week", None, {}),
]
