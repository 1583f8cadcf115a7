"""Prompts in Spanish, German, French, Chinese and Japanese, composed from slot templates."""

from __future__ import annotations

from . import text_coding, text_common as C
from .rand import R

BANK: dict[str, dict[str, list[str]]] = {
    "es": {
        "reasoning": [
            "Un tren sale a las {h}:00 a {a} km/h y otro sale {b} km detrás a {c} km/h. ¿Cuándo lo alcanza? Explica el razonamiento paso a paso.",
            "Resuelve la ecuación {a}x + {b} = {c} y explica cada paso.",
            "¿Cuál es la probabilidad de sacar al menos un {d} al lanzar {n} dados?",
            "Tengo {a} manzanas y regalo el {p}% a mi hermano. ¿Cuántas me quedan?",
            "Demuestra que la suma de dos números impares es par.",
            "Mi hijo tiene este problema: un rectángulo mide {a} por {b} cm. ¿Cuál es su área y perímetro? ayuda porfa",
            "¿Por qué la probabilidad en el problema de Monty Hall es 2/3 si cambias de puerta?",
        ],
        "tool_use": [
            "Reserva una mesa para {n} personas en {city} el viernes a las {h}:00.",
            "¿Qué tiempo hará mañana en {city}?",
            "Busca vuelos de {city} a {city2} para el {day} de {month}, {n} pasajeros.",
            "Cancela el pedido {order} y envía un correo al cliente.",
            "La función devolvió {{\"status\": \"ok\", \"total\": {a}}}. ¿Qué le digo al cliente?",
        ],
        "agentic_coding": [
            "Tengo este error y no sé por qué:\n```\n{trace}\n```",
            "¿Puedes refactorizar esta función para que sea más legible?\n```\n{code}\n```",
            "Escribe tests unitarios para este código:\n```\n{code}\n```",
            "El test falla en CI pero no en local. ¿Qué puede ser?\n```\n{trace}\n```",
        ],
        "other": [
            "Escribe un correo a mi jefe pidiendo el {day} libre.", "¿Qué puedo cocinar con {ing1} y {ing2}?",
            "Dame un itinerario de {n} días en {city}.", "Resume este texto en tres frases: {para}",
            "Traduce al inglés: \"Nos vemos mañana en la oficina.\"", "¿Quién fue {person}?",
            "Necesito consejos para una entrevista de trabajo.", "Escribe un poema corto sobre el mar.",
        ],
    },
    "de": {
        "reasoning": [
            "Ein Zug fährt mit {a} km/h los, ein zweiter {h} Stunden später mit {c} km/h. Wann holt er ihn ein? Bitte Schritt für Schritt.",
            "Löse die Gleichung {a}x - {b} = {c}. Erkläre den Rechenweg.",
            "Wie groß ist die Wahrscheinlichkeit, mit {n} Würfeln mindestens eine {d} zu werfen?",
            "Beweise, dass es unendlich viele Primzahlen gibt.",
            "Ein Produkt kostet {a} Euro und wird um {p}% reduziert. Was kostet es jetzt?",
            "Kannst du mir erklären, warum 0,999... = 1 ist?",
            "Wie viele Möglichkeiten gibt es, {n} Personen in eine Reihe zu setzen?",
        ],
        "tool_use": [
            "Wie wird das Wetter morgen in {city}?", "Buche einen Termin mit {name} am {day}. {month} um {h} Uhr.",
            "Zeig mir alle offenen Rechnungen über {a} Euro.", "Storniere die Bestellung {order}.",
            "Die Funktion hat {{\"error\": \"not_found\"}} zurückgegeben. Was soll ich jetzt tun?",
        ],
        "agentic_coding": [
            "Warum bekomme ich diesen Fehler?\n```\n{trace}\n```",
            "Bitte refaktoriere diese Funktion:\n```\n{code}\n```",
            "Schreib Unit-Tests für folgenden Code:\n```\n{code}\n```",
            "Unser CI-Build schlägt fehl:\n```\n{trace}\n```\nWas muss ich ändern?",
        ],
        "other": [
            "Schreib eine E-Mail an meinen Vermieter wegen der kaputten Heizung.", "Was kann ich mit {ing1} und {ing2} kochen?",
            "Plane eine {n}-tägige Reise nach {city}.", "Fasse diesen Text zusammen: {para}",
            "Übersetze ins Englische: \"Das Meeting wurde auf nächste Woche verschoben.\"", "Wer war {person}?",
            "Wie bereite ich mich auf ein Vorstellungsgespräch vor?", "Schreib ein Gedicht über den Herbst.",
        ],
    },
    "fr": {
        "reasoning": [
            "Un train part à {h}h à {a} km/h, un autre part {b} km plus loin à {c} km/h. Quand se croisent-ils ? Explique ton raisonnement.",
            "Résous {a}x + {b} = {c} étape par étape.",
            "Quelle est la probabilité d'obtenir au moins un {d} en lançant {n} dés ?",
            "Démontre par récurrence que 1 + 2 + ... + n = n(n+1)/2.",
            "Un article coûte {a} euros, avec une remise de {p}%. Quel est le nouveau prix ?",
            "Peux-tu m'expliquer le théorème de Bayes avec un exemple ?",
            "Combien d'anagrammes du mot MATHS existe-t-il ?",
        ],
        "tool_use": [
            "Quel temps fera-t-il à {city} ce week-end ?", "Réserve un vol {city} - {city2} le {day} {month} pour {n} personnes.",
            "Crée un rendez-vous avec {name} jeudi à {h}h.", "Rembourse la commande {order}.",
            "L'outil a renvoyé {{\"disponible\": false}}. Propose une autre date.",
        ],
        "agentic_coding": [
            "J'ai cette erreur, tu peux m'aider ?\n```\n{trace}\n```",
            "Peux-tu refactoriser ce code ?\n```\n{code}\n```",
            "Écris des tests unitaires pour cette fonction :\n```\n{code}\n```",
            "La CI échoue avec :\n```\n{trace}\n```",
        ],
        "other": [
            "Écris un mail à mon professeur pour demander un délai.", "Qu'est-ce que je peux cuisiner avec {ing1} et {ing2} ?",
            "Propose un itinéraire de {n} jours à {city}.", "Résume ce texte : {para}",
            "Traduis en anglais : « Merci pour votre patience. »", "Qui était {person} ?",
            "Des conseils pour mieux dormir ?", "Écris un petit poème sur la pluie.",
        ],
    },
    "zh": {
        "reasoning": [
            "一列火车以每小时{a}公里的速度出发，另一列晚{h}小时以每小时{c}公里出发。第二列什么时候追上？请一步一步解释。",
            "解方程 {a}x + {b} = {c}，写出详细步骤。", "掷{n}个骰子，至少出现一个{d}的概率是多少？",
            "证明根号2是无理数。", "一件商品原价{a}元，打{p}折后是多少钱？", "请解释一下贝叶斯定理，举个例子。",
            "有{n}个人排成一排，有多少种排法？",
        ],
        "tool_use": [
            "明天{city}的天气怎么样？", "帮我订一张{month}{day}号从{city}到{city2}的机票，{n}个人。",
            "查询订单{order}的物流状态。", "工具返回了 {{\"status\": \"failed\"}}，下一步应该怎么做？",
            "帮我和{name}约个周三下午的会议。",
        ],
        "agentic_coding": [
            "运行时报错了，帮我看看：\n```\n{trace}\n```", "帮我重构一下这段代码：\n```\n{code}\n```",
            "给这个函数写单元测试：\n```\n{code}\n```", "CI 挂了，日志如下：\n```\n{trace}\n```",
        ],
        "other": [
            "帮我写一封请假邮件。", "用{ing1}和{ing2}能做什么菜？", "给我安排一个{city}{n}天的旅游行程。",
            "总结一下这段话：{para}", "把这句话翻译成英文：明天见。", "{person}是谁？", "写一首关于秋天的短诗。",
        ],
    },
    "ja": {
        "reasoning": [
            "時速{a}kmで出発した電車を、{h}時間後に時速{c}kmの電車が追いかけます。いつ追いつきますか？考え方を順番に説明してください。",
            "方程式 {a}x + {b} = {c} を解いてください。途中式もお願いします。", "サイコロを{n}個振って、少なくとも1つ{d}が出る確率は？",
            "素数が無限にあることを証明してください。", "{a}円の商品が{p}%引きになりました。いくらですか？",
            "モンティ・ホール問題をわかりやすく説明して。",
        ],
        "tool_use": [
            "明日の{city}の天気を教えて。", "{month}{day}日に{city}から{city2}へのフライトを{n}名で予約して。",
            "注文{order}をキャンセルしてください。", "関数の結果は {{\"count\": {a}}} でした。次はどうすればいい？",
            "{name}さんと金曜日の{h}時に打ち合わせを入れて。",
        ],
        "agentic_coding": [
            "このエラーの原因を教えてください：\n```\n{trace}\n```", "このコードをリファクタリングして：\n```\n{code}\n```",
            "この関数のユニットテストを書いて：\n```\n{code}\n```", "CIが落ちます：\n```\n{trace}\n```",
        ],
        "other": [
            "上司に休暇をお願いするメールを書いて。", "{ing1}と{ing2}で作れる料理は？", "{city}で{n}日間の旅行プランを作って。",
            "この文章を要約して：{para}", "「よろしくお願いします」を英語でどう言う？", "{person}について教えて。",
            "秋についての短い詩を書いて。",
        ],
    },
}
_ING = {"es": ["pollo", "arroz", "huevos", "espinacas", "tomates"], "de": ["Kartoffeln", "Eier", "Spinat", "Hähnchen", "Reis"],
        "fr": ["poulet", "riz", "œufs", "épinards", "courgettes"], "zh": ["鸡蛋", "西红柿", "豆腐", "土豆", "米饭"],
        "ja": ["卵", "豆腐", "じゃがいも", "鶏肉", "ご飯"]}
_PARA = {"es": "La reunión se aplazó al lunes. El equipo de ventas superó el objetivo del trimestre, pero los costes subieron.",
         "de": "Das Projekt ist im Zeitplan. Allerdings fehlen noch zwei Entwickler, und das Budget ist knapp.",
         "fr": "Le chantier a pris du retard à cause de la météo. La livraison est repoussée de deux semaines.",
         "zh": "本季度销售额增长了百分之十二，但是成本也有所上升，下个月需要重新评估预算。",
         "ja": "今期の売上は前年比で増加しましたが、人件費の上昇により利益は横ばいでした。"}
_PERSON = ["Marie Curie", "Simón Bolívar", "Goethe", "Napoleón", "孔子", "織田信長", "Frida Kahlo"]


def make(r: R, lang: str, area: str) -> str:
    t = r.pick(BANK[lang][area])
    c1, c2 = C.two_cities(r)
    i1, i2 = r.sample(_ING[lang], 2)
    rp = text_coding.repo(r)
    ids = text_coding._ids(r, rp)
    vals = dict(a=r.randint(3, 120), b=r.randint(1, 60), c=r.randint(10, 200), d=r.randint(1, 6),
                n=r.randint(2, 6), h=r.randint(1, 12), p=r.choice([10, 15, 20, 25, 30, 40]), city=c1, city2=c2,
                name=C.first(r), day=r.randint(1, 28), month=r.randint(1, 12) if lang in ("zh", "ja") else r.pick(C.MONTHS),
                order=C.order_no(r), ing1=i1, ing2=i2, para=_PARA[lang], person=r.pick(_PERSON))
    if lang in ("zh", "ja") and "{month}" in t:
        vals["month"] = f"{r.randint(1, 12)}月"
    if "{trace}" in t:
        vals["trace"] = text_coding.trace(r, rp, ids) if r.maybe(0.6) else text_coding.test_output(r, rp, ids)
    if "{code}" in t:
        vals["code"] = text_coding.snippet(r, rp, ids)
    return t.format(**vals)
