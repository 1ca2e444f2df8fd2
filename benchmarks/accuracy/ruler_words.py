"""Plain English words for RULER's keys ("adjective-noun", as wonderwords draws them upstream) and for the
common-words task. Our own short lists: the wonderwords package is not a dependency, and RULER needs only
that keys are distinct, readable words."""

ADJECTIVES = """
able acid angry aloof ample ancient arctic awake bare basic bitter black blue bold brave brief bright
broad broken busy calm careful cheap chief chilly clean clear clever close cloudy coarse cold cool
crisp cruel curly damp dark dear deep dense dry dull eager early easy elder empty equal even exact
faint fair false famous fancy fast fierce fine firm flat fond foolish fresh friendly funny gentle giant
glad golden grand great green grim gusty handy happy hard harsh heavy hidden high hollow honest huge
humble icy idle jolly keen kind large late lazy level light little lively lonely long loose loud lucky
mad mellow merry mild modern moist narrow neat new nice noble odd old orange pale plain polite poor
proud pure purple quick quiet rapid rare raw red rich rigid ripe rough round royal rude rural rusty
sad safe salty sandy sharp shiny short shy silent silly simple slim slow small smart smooth soft solid
sour spare stale steep stiff strict strong sturdy sunny super sweet swift tall tame tart tender thick
thin tidy tight tiny tough true ugly upper vast vivid warm weak wet white whole wide wild wise witty
young zany
""".split()

NOUNS = """
actor anchor apple arch arrow attic badge baker ball band bank barn basket beach bean bear bed bee bell
bench berry bird blade blanket boat bone book boot bottle bowl box branch bread brick bridge brush
bucket button cabin cable cake camel camera candle canoe canvas car carpet castle cat cellar chain
chair chalk cheese cherry chest chimney circle clock cloud coat coin comet copper cord corn cottage
cousin cow crane crown cup curtain daisy desk diamond dish dog door dragon drum duck eagle engine fan
farm feather fence field finger flag flame flute forest fork fountain fox frog garden gate ghost glass
glove goat grape hammer harbor hat hawk hill horse house island jacket jar jewel kettle key kitten
ladder lake lamp lantern leaf lemon letter lion lizard map marble meadow mirror monkey moon mountain
mouse needle nest net oak ocean olive onion orchard owl paddle palace panda paper parrot pearl pebble
pencil pepper piano pillow pine pipe planet plate pocket pond pony potato puppet quilt rabbit radio
rail river road robin rock roof rope rose saddle sail salmon sand scarf school shell ship shoe shovel
silver sink skirt sled snail spoon spring star stone stove street sugar swan table tiger tower town
train tree trumpet tulip tunnel turtle valley violin wagon wall whale wheel window wolf yard zebra
""".split()

VERBS = """
accept admire answer arrive bake balance bathe behave blink boil borrow bounce breathe bring build
burn buy call carry catch chase cheer chew climb collect cook count crawl cross dance deliver dig dive
draw dream drink drive drop earn enjoy escape explain fetch fill find fix float fly fold follow gather
give glow grab grow guard guess hang help hide hold hop hunt hurry jump kick kneel knit knock laugh
lead learn lend lift listen march mend move observe offer open paint pause plant play pour pray pull
push race reach read relax remember repair rescue rest ride ring roll rush sail scatter search shake
shine shout sing sit skate sleep slide smile sneeze sort spill spin splash stack stare steer stitch
stretch swim swing teach throw tickle travel trust tumble turn twist wait walk wander wash watch wave
weave whisper whistle wink wish wobble write yawn
""".split()
