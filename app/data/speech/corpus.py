"""A few plain everyday sentences per language, to give every language something to say.

Written for this project and dedicated to the public domain. Keys are the language codes
the espeak-ng engine takes.
"""

from app.errors import LivefaceError

SENTENCES: dict[str, tuple[str, ...]] = {
    "en": (
        "The bus was late again this morning, so I walked to work.",
        "Could you pass me the bread and the butter, please?",
        "My sister bought a blue bicycle at the market on Friday.",
        "We should open the window; it is very warm in here.",
        "Five people were waiting outside the shop before it opened.",
    ),
    "de": (
        "Der Zug nach Berlin fährt heute eine halbe Stunde später ab.",
        "Kannst du mir bitte das Salz und den Pfeffer geben?",
        "Meine Großmutter backt jeden Sonntag einen Apfelkuchen.",
        "Wir treffen uns morgen um acht Uhr vor dem Bahnhof.",
        "Im Sommer schwimmen die Kinder gern im See.",
    ),
    "fr": (
        "Le boulanger ouvre sa boutique à six heures du matin.",
        "Peux-tu fermer la fenêtre, s'il te plaît? Il fait froid.",
        "Nous avons mangé une bonne soupe aux légumes hier soir.",
        "Mon frère cherche ses clés partout depuis une heure.",
        "Le chat dort sur le canapé à côté de la lampe.",
    ),
    "es": (
        "Mañana vamos a visitar a mis abuelos en el pueblo.",
        "¿Me puedes traer un vaso de agua fría, por favor?",
        "El perro de los vecinos ladra cada vez que pasa el cartero.",
        "Compramos pan, queso y fruta en el mercado del sábado.",
        "La biblioteca cierra a las ocho durante la semana.",
    ),
    "it": (
        "Ogni mattina prendo un caffè al bar vicino a casa.",
        "Puoi chiudere la porta quando esci, per favore?",
        "Mia madre prepara la pasta fresca per la cena di domenica.",
        "Il treno per Milano parte dal binario quattro.",
        "Abbiamo passato le vacanze al mare con gli amici.",
    ),
    "pt": (
        "O autocarro chega sempre atrasado às segundas-feiras.",
        "Podes passar-me o sal e o azeite, por favor?",
        "A minha vizinha tem um jardim cheio de flores bonitas.",
        "Vamos almoçar juntos no restaurante da praça.",
        "O meu irmão joga futebol com os amigos ao fim da tarde.",
    ),
    "nl": (
        "Ik fiets elke dag naar mijn werk, ook als het regent.",
        "Wil je de melk even uit de koelkast pakken?",
        "De bakker op de hoek verkoopt heerlijk vers brood.",
        "Morgen gaan we met de trein naar Amsterdam.",
        "Mijn broer heeft een nieuwe hond gekregen.",
    ),
    "pl": (
        "Jutro rano pojedziemy pociągiem do Krakowa.",
        "Czy możesz podać mi szklankę wody?",
        "Moja babcia piecze najlepsze ciasto z jabłkami.",
        "Dzieci bawią się w parku po szkole.",
        "Sklep na rogu jest otwarty do dziesiątej wieczorem.",
    ),
    "ru": (
        "Сегодня утром я долго ждал автобус на остановке.",
        "Передай мне, пожалуйста, хлеб и масло.",
        "Моя сестра любит читать книги по вечерам.",
        "Мы поедем на дачу в субботу рано утром.",
        "В магазине у дома всегда свежие овощи.",
    ),
    "zh": (
        "今天早上我坐公共汽车去上班。",
        "请你把桌子上的书递给我。",
        "我的妈妈每天晚上做饭。",
        "明天我们一起去公园散步吧。",
        "这家小店的面条非常好吃。",
    ),
    "hi": (
        "आज सुबह मैं बस से दफ़्तर गया।",
        "कृपया मुझे एक गिलास पानी दीजिए।",
        "मेरी माँ हर रविवार को खीर बनाती हैं।",
        "हम कल शाम को बाज़ार जाएँगे।",
        "बच्चे पार्क में फ़ुटबॉल खेल रहे हैं।",
    ),
    "sv": (
        "Jag cyklar till jobbet varje morgon.",
        "Kan du skicka saltet, tack?",
        "Min bror bor i ett litet hus vid sjön.",
        "Vi ska äta middag hos mormor på söndag.",
        "Affären stänger klockan sex i kväll.",
    ),
    "cs": (
        "Dnes ráno jel autobus pozdě, tak jsem šel do práce pěšky.",
        "Můžeš mi prosím podat chleba a máslo?",
        "Moje sestra si v pátek koupila modré kolo.",
        "Večer půjdeme s babičkou na procházku do parku.",
        "Obchod na rohu je otevřený do osmi hodin.",
    ),
    "fi": (
        "Bussi oli taas myöhässä tänä aamuna, joten kävelin töihin.",
        "Voisitko ojentaa minulle leivän ja voin?",
        "Siskoni osti perjantaina sinisen polkupyörän.",
        "Menemme huomenna mummon luokse syömään.",
        "Kauppa on auki kello kahdeksaan asti.",
    ),
    "ca": (
        "Aquest matí l'autobús ha arribat tard, i he anat a la feina a peu.",
        "Em pots passar el pa i la mantega, si us plau?",
        "La meva germana es va comprar una bicicleta blava divendres.",
        "Demà anirem a dinar a casa dels avis.",
        "La botiga de la cantonada obre fins a les vuit.",
    ),
    "tr": (
        "Bu sabah otobüs yine geç geldi.",
        "Bana bir bardak su verir misin?",
        "Annem her pazar börek yapar.",
        "Yarın akşam sinemaya gidelim mi?",
        "Kedi pencerenin önünde uyuyor.",
    ),
}

LANGUAGES: tuple[str, ...] = tuple(SENTENCES)


def sentences(language: str) -> tuple[str, ...]:
    """The built-in sentences of a language."""
    if language not in SENTENCES:
        raise LivefaceError(
            f"no built-in sentences for language '{language}'; "
            f"choose one of: {', '.join(LANGUAGES)}."
        )
    return SENTENCES[language]
