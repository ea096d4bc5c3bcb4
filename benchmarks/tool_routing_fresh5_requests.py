# ruff: noqa: E501  (requests kept verbatim, one per line)
from typing import Any

VET_CASES: list[tuple[str, str | None, dict[str, Any]]] = [
    # book_vet_appointment
    (
        "hi um can someone have a look at my dog biscuit on tuesday he keeps scratching his ears",
        "book_vet_appointment",
        {"pet_name": "biscuit", "day": "tuesday"},
    ),
    (
        "yeah so my cat luna has gone a bit off her food this week could she see a vet on thursday",
        "book_vet_appointment",
        {"pet_name": "luna", "day": "thursday"},
    ),
    (
        "hello there is a lump on rosie just under her ear can a vet check it on monday",
        "book_vet_appointment",
        {"pet_name": "rosie", "day": "monday"},
    ),
    (
        "um my dog max has been limping on and off i would like to get him seen",
        "book_vet_appointment",
        {"pet_name": "max"},
    ),
    # emergency_triage
    (
        "oh god my dog just ate a whole bar of dark chocolate what do i do",
        "emergency_triage",
        {"symptoms": "ate a whole bar of dark chocolate"},
    ),
    (
        "my cat got hit by a car she is breathing really fast and she will not get up",
        "emergency_triage",
        {"symptoms": "hit by a car breathing really fast will not get up"},
    ),
    (
        "yeah so our puppy has been sick all morning and now there is blood in it how quickly should i bring him",
        "emergency_triage",
        {"symptoms": "vomiting all morning with blood in it"},
    ),
    (
        "uh he got stung on the nose by something and his whole face is swelling up",
        "emergency_triage",
        {"symptoms": "stung on the nose face swelling up"},
    ),
    # order_pet_medication
    (
        "hi i need some more of the thyroid tablets for my cat smudge she is nearly out",
        "order_pet_medication",
        {"pet_name": "smudge", "medication": "thyroid tablets"},
    ),
    (
        "um could i get another bag of the kidney diet food for oscar please",
        "order_pet_medication",
        {"pet_name": "oscar", "medication": "kidney diet food"},
    ),
    (
        "yeah so bella is running low on her metacam for the arthritis can i pick some more up",
        "order_pet_medication",
        {"pet_name": "bella", "medication": "metacam"},
    ),
    # vaccination_due_date
    ("when does teddy need his next jabs", "vaccination_due_date", {"pet_name": "teddy"}),
    (
        "uh hi i cannot remember if nala is up to date with her injections when is she next due a booster",
        "vaccination_due_date",
        {"pet_name": "nala"},
    ),
    (
        "we are putting coco in kennels next month and they want her jabs to be current is she due anything soon",
        "vaccination_due_date",
        {"pet_name": "coco"},
    ),
    # book_grooming
    (
        "hi can i bring poppy in for a bath and a tidy up on wednesday",
        "book_grooming",
        {"pet_name": "poppy", "day": "wednesday"},
    ),
    (
        "buster has got really long claws now they click on the floor could someone cut them on friday",
        "book_grooming",
        {"pet_name": "buster", "day": "friday"},
    ),
    (
        "um our spaniel alfie is all matted and scruffy can he have a haircut on saturday",
        "book_grooming",
        {"pet_name": "alfie", "day": "saturday"},
    ),
    # test_results
    (
        "hi i am ringing about the bloods you took from ziggy last week are they back yet",
        "test_results",
        {"pet_name": "ziggy"},
    ),
    (
        "um has anything come back from the scan daisy had on friday",
        "test_results",
        {"pet_name": "daisy"},
    ),
    (
        "yeah so the vet sent off a wee sample from my cat tigger has anybody heard anything",
        "test_results",
        {"pet_name": "tigger"},
    ),
    # no tool
    ("what time do you close on a sunday", None, {}),
    ("how much does it cost to get a cat neutered roughly", None, {}),
    ("is there anywhere to park outside the surgery", None, {}),
    ("do you deal with the pet insurance directly or do i have to claim it back myself", None, {}),
    ("oh i just wanted to say thanks for yesterday the nurse was so lovely with our dog", None, {}),
    ("do you see tortoises or is it only cats and dogs", None, {}),
]

CINEMA_CASES: list[tuple[str, str | None, dict[str, Any]]] = [
    # film_showtimes
    ("um what time is dune on saturday", "film_showtimes", {"film": "dune", "day": "saturday"}),
    (
        "hi is wicked on at all on friday evening what times",
        "film_showtimes",
        {"film": "wicked", "day": "friday"},
    ),
    ("when is the wild robot playing", "film_showtimes", {"film": "the wild robot"}),
    (
        "uh my kids want to see flow on tuesday afternoon when does it start",
        "film_showtimes",
        {"film": "flow", "day": "tuesday"},
    ),
    # book_tickets
    (
        "can i get two seats for conclave on friday night",
        "book_tickets",
        {"film": "conclave", "day": "friday", "tickets": 2},
    ),
    (
        "yeah so we want to come and see wicked on saturday there is four of us can you sort that out",
        "book_tickets",
        {"film": "wicked", "day": "saturday", "tickets": 4},
    ),
    (
        "hi could you reserve three places for the wild robot on sunday for me and the two kids",
        "book_tickets",
        {"film": "the wild robot", "day": "sunday", "tickets": 3},
    ),
    (
        "just the one for nosferatu on thursday please",
        "book_tickets",
        {"film": "nosferatu", "day": "thursday", "tickets": 1},
    ),
    # refund_tickets
    (
        "um we are away on saturday now so we cannot make it can i get my money back the booking is bk58316",
        "refund_tickets",
        {"booking_reference": "bk58316"},
    ),
    (
        "hi my daughter is poorly so we will not be coming tonight the reference is cx7712",
        "refund_tickets",
        {"booking_reference": "cx7712"},
    ),
    (
        "yeah so i booked the wrong day by mistake booking number rf20938 can i have the money back",
        "refund_tickets",
        {"booking_reference": "rf20938"},
    ),
    # report_lost_item
    (
        "hi i think i left my black umbrella under the seat in screen three last night",
        "report_lost_item",
        {"description": "black umbrella"},
    ),
    (
        "um my son dropped his blue puffer jacket somewhere in there on sunday has anyone handed it in",
        "report_lost_item",
        {"description": "blue puffer jacket"},
    ),
    (
        "i came out of the film and my car keys were gone they must have fallen down the side of the seat",
        "report_lost_item",
        {"description": "car keys"},
    ),
    # check_accessibility
    (
        "is there a captioned showing of conclave my husband is hard of hearing",
        "check_accessibility",
        {"film": "conclave"},
    ),
    (
        "i use a wheelchair is there a space for me when dune is on",
        "check_accessibility",
        {"film": "dune"},
    ),
    (
        "my mum cannot see very well is there a version of wicked where someone describes what is happening",
        "check_accessibility",
        {"film": "wicked"},
    ),
    # membership_points
    (
        "hi how many points have i got on my card my member number is mb30472",
        "membership_points",
        {"member_number": "mb30472"},
    ),
    (
        "yeah so have i saved up enough for a free ticket yet i am member lc66120",
        "membership_points",
        {"member_number": "lc66120"},
    ),
    (
        "um could you tell me my rewards balance the number on my card is cp90815",
        "membership_points",
        {"member_number": "cp90815"},
    ),
    # no tool
    ("can i buy a gift voucher for my sisters birthday", None, {}),
    ("how much is it for a child", None, {}),
    ("is there a car park near the cinema", None, {}),
    ("are we allowed to bring our own snacks in or do we have to buy them there", None, {}),
    ("how do i sign up to become a member", None, {}),
    ("hiya just wanted to say the new reclining seats are amazing", None, {}),
]
