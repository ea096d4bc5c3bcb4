# ruff: noqa: E501  (requests kept verbatim, one per line)
from typing import Any

PHARMACY_CASES: list[tuple[str, str | None, dict[str, Any]]] = [
    # order_repeat_prescription (4)
    (
        "um hi i'm running low on my amlodipine could you sort me out some more",
        "order_repeat_prescription",
        {"medicine": "amlodipine"},
    ),
    (
        "yeah so i've nearly finished my metformin can you put it through again",
        "order_repeat_prescription",
        {"medicine": "metformin"},
    ),
    (
        "hiya i've only got a few levothyroxine left in the box can i get my usual lot",
        "order_repeat_prescription",
        {"medicine": "levothyroxine"},
    ),
    (
        "i need a top up of my sertraline please same as every month",
        "order_repeat_prescription",
        {"medicine": "sertraline"},
    ),
    # prescription_status (3)
    (
        "hi it's margaret wilson i dropped a script off on tuesday is it done yet",
        "prescription_status",
        {"name": "margaret wilson"},
    ),
    (
        "um yeah i'm ringing to see if my mum's tablets are ready to pick up her name's joan patel",
        "prescription_status",
        {"name": "joan patel"},
    ),
    (
        "can i come down and collect my stuff yet the name is david okafor",
        "prescription_status",
        {"name": "david okafor"},
    ),
    # book_vaccination (4)
    (
        "i'd like to get my flu jab done on thursday if you've got space",
        "book_vaccination",
        {"vaccine": "flu", "day": "thursday"},
    ),
    (
        "we're off to kenya next month and need our travel jabs could we come in saturday",
        "book_vaccination",
        {"vaccine": "travel", "day": "saturday"},
    ),
    (
        "um can i come in for a covid jab on monday morning",
        "book_vaccination",
        {"vaccine": "covid", "day": "monday"},
    ),
    (
        "my doctor says i should have the flu vaccine this year is wednesday any good",
        "book_vaccination",
        {"vaccine": "flu", "day": "wednesday"},
    ),
    # check_medicine_stock (3)
    (
        "hi have you got any piriton in at the moment",
        "check_medicine_stock",
        {"medicine": "piriton"},
    ),
    (
        "before i drive over is there any calpol on the shelf for my little one",
        "check_medicine_stock",
        {"medicine": "calpol"},
    ),
    (
        "yeah so do you lot carry nicotine patches or will i have to go elsewhere",
        "check_medicine_stock",
        {"medicine": "nicotine patches"},
    ),
    # arrange_home_delivery (3)
    (
        "i can't get out of the house at the moment could someone bring my warfarin round the postcode is ls6 2ab",
        "arrange_home_delivery",
        {"medicine": "warfarin", "postcode": "ls6 2ab"},
    ),
    (
        "my husband's just had his hip done and can't drive can his ramipril be dropped off to us we're m14 5rt",
        "arrange_home_delivery",
        {"medicine": "ramipril", "postcode": "m14 5rt"},
    ),
    (
        "is it possible to have my insulin sent to the house instead of me coming in it's bs3 4qp",
        "arrange_home_delivery",
        {"medicine": "insulin", "postcode": "bs3 4qp"},
    ),
    # ask_pharmacist (3)
    (
        "can i take ibuprofen with my blood thinners or is that a bad idea",
        "ask_pharmacist",
        {"question": "can i take ibuprofen with my blood thinners"},
    ),
    (
        "um the new tablets i started are making me really dizzy is that normal",
        "ask_pharmacist",
        {"question": "the new tablets are making me really dizzy is that normal"},
    ),
    (
        "how many of the hay fever tablets can my son have a day he's eight",
        "ask_pharmacist",
        {"question": "how many hay fever tablets a day can an eight year old have"},
    ),
    # no tool (6)
    ("what time do you shut on a sunday", None, {}),
    ("is there anywhere to park near you or is it just the street", None, {}),
    ("how much is a prescription charge these days", None, {}),
    ("roughly how much does it cost for the travel jabs", None, {}),
    ("aw thanks so much for your help earlier the lady on the counter was lovely", None, {}),
    ("are you hiring at all my daughter's after a saturday job", None, {}),
]

ENERGY_CASES: list[tuple[str, str | None, dict[str, Any]]] = [
    # submit_meter_reading (4)
    (
        "um yeah the number on my electric meter says 23817",
        "submit_meter_reading",
        {"reading": 23817},
    ),
    (
        "i've just been out to the gas meter and it reads 7 6 2 0 4",
        "submit_meter_reading",
        {"reading": 76204},
    ),
    (
        "hiya just passing on what the meter's showing today it's 31190",
        "submit_meter_reading",
        {"reading": 31190},
    ),
    (
        "hello i've got the numbers off the meter for you ready 58402",
        "submit_meter_reading",
        {"reading": 58402},
    ),
    # report_power_cut (4)
    (
        "all the lights have just gone off in the house and next door's too we're at cf10 3nb",
        "report_power_cut",
        {"postcode": "cf10 3nb"},
    ),
    (
        "um we've had no electricity at all for about an hour now postcode ng7 1aa",
        "report_power_cut",
        {"postcode": "ng7 1aa"},
    ),
    (
        "the whole street's gone dark any idea when it's coming back it's b15 2tt",
        "report_power_cut",
        {"postcode": "b15 2tt"},
    ),
    (
        "yeah so nothing's working the fridge the telly nothing and the fuse box looks fine l8 4rd",
        "report_power_cut",
        {"postcode": "l8 4rd"},
    ),
    # explain_bill (3)
    (
        "i don't understand why my bill's so high this quarter my account is ac318876",
        "explain_bill",
        {"account_number": "ac318876"},
    ),
    (
        "can someone go through my latest statement with me there's charges on it i don't get account number ac552019",
        "explain_bill",
        {"account_number": "ac552019"},
    ),
    (
        "yeah so why have i been charged nearly three hundred pounds this time account ac770341",
        "explain_bill",
        {"account_number": "ac770341"},
    ),
    # set_up_payment_plan (3)
    (
        "i'm behind with you and can't pay it all in one go could i do 40 pounds a month account ac210984",
        "set_up_payment_plan",
        {"account_number": "ac210984", "monthly_amount": 40.0},
    ),
    (
        "um i owe you a fair bit and wondered if i can pay it off bit by bit say 25 a month my account number's ac634470",
        "set_up_payment_plan",
        {"account_number": "ac634470", "monthly_amount": 25.0},
    ),
    (
        "things are tight at the moment can i split what's outstanding into 60 pound chunks each month it's ac908812",
        "set_up_payment_plan",
        {"account_number": "ac908812", "monthly_amount": 60.0},
    ),
    # register_home_move (3)
    (
        "we're moving out on friday so need to sort the energy here account ac418207",
        "register_home_move",
        {"account_number": "ac418207", "moving_day": "friday"},
    ),
    (
        "hi we've sold the house and the new owners get the keys on wednesday my account's ac503318",
        "register_home_move",
        {"account_number": "ac503318", "moving_day": "wednesday"},
    ),
    (
        "i'm leaving this flat on monday what do i do about the electric account ac671145",
        "register_home_move",
        {"account_number": "ac671145", "moving_day": "monday"},
    ),
    # book_smart_meter_install (3)
    (
        "can i get one of them smart meters put in tuesday would suit me postcode's so15 6hj",
        "book_smart_meter_install",
        {"postcode": "so15 6hj", "day": "tuesday"},
    ),
    (
        "yeah so my neighbour's got one of those little screens that show what you're using can i have one fitted thursday i'm at ex4 8pq",
        "book_smart_meter_install",
        {"postcode": "ex4 8pq", "day": "thursday"},
    ),
    (
        "i'd like an engineer to swap my old meter for a smart one on saturday it's rg1 3ee",
        "book_smart_meter_install",
        {"postcode": "rg1 3ee", "day": "saturday"},
    ),
    # no tool (6)
    ("have you got any cheaper tariffs i could switch onto", None, {}),
    ("what time does your phone line open in the morning", None, {}),
    ("um how much is the standing charge per day at the minute", None, {}),
    ("do you do solar panels or is it just gas and electric", None, {}),
    ("thanks love you've been ever so helpful have a good day", None, {}),
    ("i can smell gas in the kitchen who should i ring", None, {}),
]
