"""Small tokenizers trained offline on a built-in word list, for the tiny random-weight models.

The real LLaMA / Mistral (SentencePiece BPE) and BLIP (BERT WordPiece) vocabularies come from the hub,
which is out of reach here. These tokenizers have the same kind of model and the same special tokens, so
the tiny models exercise the same processor code; their vocabulary is just much smaller.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# tokenizers and transformers load when a tokenizer is built, not with the tiny builders that name these.
if TYPE_CHECKING:
    from transformers import BertTokenizerFast, PreTrainedTokenizerFast

# Words of the prompts and of image captions: enough for the trainer to learn sub-words of real English.
WORDS = """
a an the of with and or in on at by to from for as is are be it this that these those there their his her
its into over under near behind beside above below between through while who what which how why where when
photo picture image scene view close up of background foreground left right top bottom middle front back
small medium large semantic change changes meaning interpretation viewer subject object objects element
alter altered replace replacement augmentation similar size shape structure adjective preposition answer
explanation return only words few caption rewrite rewritten sentence describe definition magnitude
lighting light dark bright dim shadow sunny cloudy rainy snowy foggy night day evening morning sunset dawn
red orange yellow green blue purple pink brown black white gray grey golden silver beige turquoise
wooden metal glass plastic stone brick leather fabric marble paper concrete velvet woollen rusty shiny
striped spotted checkered smooth rough wet dry old new broken tall short wide narrow round square
happy sad angry surprised smiling laughing crying calm tired scared sitting standing walking running lying
person man woman child boy girl people face hair eye eyes nose mouth lip lips ear neck skin hat glasses
shirt jacket coat dress skirt pants shoe shoes bag scarf glove sock
cat dog horse bird cow sheep elephant bear zebra giraffe fish duck
car truck bus bicycle motorcycle train boat airplane van taxi tractor scooter
chair table sofa bed lamp shelf cabinet desk door window curtain pillow cushion rug mirror painting
apple banana orange cake pizza bread sandwich bagel doughnut bowl cup plate bottle
tree trees plant plants flower flowers grass bush vegetation leaves forest
building house wall floor ceiling roof tower bridge fence road sidewalk street path field mountain sky
water sea river lake sand snow rock ground terrain
sorry cannot here sure certainly would could should
"""
CORPUS = [WORDS.replace("\n", " ")] * 4
LLAMA_SPECIALS = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]
# The Llama-2-chat prompt format (and Mistral-instruct's), so the tiny LM is prompted like the real one.
LLAMA_CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}{{ bos_token }}[INST] {{ m['content'] }} [/INST]"
    "{% else %} {{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}"
)


def llama_like_tokenizer(vocab_size: int = 600) -> PreTrainedTokenizerFast:
    """A byte-fallback-free BPE tokenizer with Metaspace pre-tokenization, like LLaMA's and Mistral's.

    Holds `<image>` as a special token so the same tokenizer serves the tiny LLaVA-NeXT.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=LLAMA_SPECIALS, show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
    )
    fast.padding_side = "left"  # decoder-only batch generation pads on the left
    fast.chat_template = LLAMA_CHAT_TEMPLATE
    return fast


def bert_like_tokenizer(vocab_size: int = 600) -> BertTokenizerFast:
    """A lower-casing WordPiece tokenizer with BERT's special tokens plus BLIP's `[DEC]` start token."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=BERT_SPECIALS, show_progress=False
    )
    tok.train_from_iterator(CORPUS, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    return BertTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        bos_token="[DEC]",
    )


T5_SPECIALS = ["<pad>", "</s>", "<unk>"]  # T5's ids 0, 1, 2
QWEN_SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
    "<|video_pad|>",
]


def t5_like_tokenizer(vocab_size: int = 400) -> PreTrainedTokenizerFast:
    """A Unigram tokenizer with T5's special tokens (pad 0, eos 1, unk 2), wrapped in transformers' T5Tokenizer.

    T5's SentencePiece model is a Unigram over Metaspace-split text; this one is trained on the word list.
    """
    import json

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import T5Tokenizer

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=T5_SPECIALS, unk_token="<unk>", show_progress=False
    )
    tok.train_from_iterator(CORPUS, trainer)
    vocab = [(piece, float(score)) for piece, score in json.loads(tok.to_str())["model"]["vocab"]]
    return T5Tokenizer(vocab=vocab, extra_ids=0)


def qwen_like_tokenizer(vocab_size: int = 600) -> PreTrainedTokenizerFast:
    """A byte-level BPE with Qwen2's chat and vision special tokens, wrapped in transformers' Qwen2Tokenizer."""
    import json

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=QWEN_SPECIALS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    fast = Qwen2Tokenizer(vocab=model["vocab"], merges=merges, extra_special_tokens={
        "image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
        "vision_start_token": "<|vision_start|>", "vision_end_token": "<|vision_end|>",
    })
    fast.add_special_tokens({"additional_special_tokens": QWEN_SPECIALS[1:]})
    return fast
