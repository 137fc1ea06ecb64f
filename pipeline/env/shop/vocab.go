package shop

// The catalog vocabulary: categories, product types, attribute slots, option pools and text
// templates. These tables are read-only data; the generator (catalog.go) draws from them with a
// seeded source. Words are chosen so that a product's text never contains an option value or an
// attribute it does not have (WebShop's reward also credits an attribute or option found as a
// substring of title, features or description); catalog_test.go checks this for every product.

// groupSpec is an option group ("size", "color", ...) and the values a product may offer.
type groupSpec struct {
	name       string
	values     []string
	min, max   int  // how many values one product offers
	contiguous bool // offer a contiguous run (sizes), not a random subset
}

// typeSpec is a product type: what shoppers search for and how titles name it.
type typeSpec struct {
	query    string     // WebShop's "query" field: the type as a search phrase
	audience string     // "Men's", "Women's" or ""
	names    []string   // noun phrases for titles
	path     string     // category path, "›"-separated as WebShop's product_category
	attrs    [][]string // extra attribute slots of this type, beside the category's
	groups   []groupSpec
	lo, hi   float64 // price range in dollars
}

// categorySpec groups product types that share brands, attributes and text templates.
type categorySpec struct {
	name     string
	brands   []string
	fillers  []string   // title words that are not attributes
	attrs    [][]string // attribute slots: a product takes at most one phrase of a slot
	intros   []string   // description openers; {brand} and {name} are filled in
	middles  []string   // {attrs} is a phrase list of the product's attributes
	closers  []string
	benefits []string // bullet clauses following an attribute
	extras   []string // bullets that name no attribute
	types    []typeSpec
}

var (
	sizesClothing  = []string{"x-small", "small", "medium", "large", "x-large", "xx-large"}
	sizesMenShoe   = []string{"us 7", "us 7.5", "us 8", "us 8.5", "us 9", "us 9.5", "us 10", "us 10.5", "us 11", "us 12", "us 13"}
	sizesWomenShoe = []string{"us 5", "us 5.5", "us 6", "us 6.5", "us 7", "us 7.5", "us 8", "us 8.5", "us 9", "us 10"}
	packCounts     = []string{"pack of 4", "pack of 6", "pack of 12", "pack of 18", "pack of 24"}
	colorsBasic    = []string{"black", "white", "grey", "navy", "olive", "beige", "pink", "blue", "burgundy", "khaki", "teal", "yellow"}
	colorsBright   = []string{"black", "white", "blue", "silver", "green", "pink", "purple", "orange", "teal", "gold"}
	colorsWood     = []string{"black", "white", "walnut", "espresso", "oak", "cherry", "grey", "natural"}
	colorsHome     = []string{"white", "grey", "navy", "beige", "ivory", "sage", "charcoal", "blush", "teal", "khaki"}
)

var categories = []categorySpec{
	{
		name:    "shoes",
		brands:  []string{"Trailmark", "Strideon", "Peakline", "Ardenfield", "Runwell", "Nordhaus", "Kestrel", "Vantor"},
		fillers: []string{"Everyday", "Classic", "Outdoor", "Sport", "Casual", "Comfort"},
		attrs: [][]string{
			{"non slip"}, {"rubber sole"}, {"memory foam"}, {"arch support"}, {"water resistant"},
			{"breathable mesh"}, {"lace up", "pull on"}, {"lightweight"}, {"cushioned insole"}, {"wide toe box"},
		},
		intros: []string{
			"The {brand} {name} are made for long days on your feet.",
			"Step out in the {name} from {brand}, built to keep pace with you.",
			"Meet the {name} by {brand}, a dependable pair for walks, errands and weekend plans.",
		},
		middles: []string{"This pair comes with {attrs}.", "Highlights include {attrs}.", "You get {attrs} in one pair."},
		closers: []string{"Wipe clean with a damp cloth.", "Pair them with jeans or joggers.", "A go-to choice for daily wear."},
		benefits: []string{
			"keeps every step steady and comfortable", "made for daily wear from morning to night",
			"gives a secure and supportive feel", "designed for comfort on long walks",
		},
		extras: []string{"Padded collar and tongue for a snug fit", "Easy to pair with casual outfits", "Durable stitching throughout"},
		types: []typeSpec{
			{query: "men's running shoes", audience: "Men's", names: []string{"Running Shoes", "Road Running Sneakers", "Athletic Running Shoes"},
				path: "Clothing, Shoes & Jewelry › Men › Shoes › Athletic › Running", lo: 30, hi: 130,
				groups: []groupSpec{{name: "size", values: sizesMenShoe, min: 4, max: 8, contiguous: true}, {name: "color", values: colorsBasic, min: 2, max: 5}}},
			{query: "women's running shoes", audience: "Women's", names: []string{"Running Shoes", "Walking Sneakers", "Athletic Trainers"},
				path: "Clothing, Shoes & Jewelry › Women › Shoes › Athletic › Running", lo: 30, hi: 130,
				groups: []groupSpec{{name: "size", values: sizesWomenShoe, min: 4, max: 8, contiguous: true}, {name: "color", values: colorsBasic, min: 2, max: 5}}},
			{query: "women's sandals", audience: "Women's", names: []string{"Sandals", "Slide Sandals", "Strappy Flat Sandals"},
				path: "Clothing, Shoes & Jewelry › Women › Shoes › Sandals", lo: 18, hi: 70,
				attrs:  [][]string{{"adjustable strap"}, {"open toe"}},
				groups: []groupSpec{{name: "size", values: sizesWomenShoe, min: 4, max: 8, contiguous: true}, {name: "color", values: colorsBasic, min: 2, max: 5}}},
			{query: "men's hiking boots", audience: "Men's", names: []string{"Hiking Boots", "Trail Boots", "Outdoor Hiking Boots"},
				path: "Clothing, Shoes & Jewelry › Men › Shoes › Outdoor › Hiking", lo: 50, hi: 180,
				attrs:  [][]string{{"ankle support"}, {"steel toe", "composite toe"}},
				groups: []groupSpec{{name: "size", values: sizesMenShoe, min: 4, max: 8, contiguous: true}, {name: "color", values: colorsBasic, min: 2, max: 4}}},
		},
	},
	{
		name:    "tops",
		brands:  []string{"Cotton Lane", "Harbor & Hale", "Northway", "Maple Thread", "Solstice", "Urbano", "Lumen Wear", "Foxglove"},
		fillers: []string{"Classic", "Basic", "Everyday", "Casual", "Soft", "Essential"},
		attrs: [][]string{
			{"long sleeve", "short sleeve"}, {"slim fit", "relaxed fit"}, {"machine wash", "hand wash"}, {"cotton blend"},
			{"moisture wicking"}, {"quick dry"}, {"tagless"}, {"wrinkle free"}, {"stretch fabric"},
		},
		intros: []string{
			"The {brand} {name} is a wardrobe staple you can wear almost anywhere.",
			"Dress it up or keep it casual with this {name} from {brand}.",
			"{brand} makes the {name} for easy, all-day wear.",
		},
		middles: []string{"It offers {attrs}.", "Highlights include {attrs}.", "Expect {attrs}."},
		closers: []string{"Looks great with jeans, chinos or shorts.", "A simple piece for busy mornings.", "Keeps its shape wash after wash."},
		benefits: []string{
			"feels easy and soft against the skin", "keeps you looking sharp all day",
			"made for comfort at work or at home", "holds up to everyday wear",
		},
		extras: []string{"Double stitched hems", "Soft knit fabric", "True to size fit"},
		types: []typeSpec{
			{query: "men's t-shirts", audience: "Men's", names: []string{"T-Shirt", "Crew Neck Tee", "Graphic Tee"},
				path: "Clothing, Shoes & Jewelry › Men › Clothing › Shirts › T-Shirts", lo: 10, hi: 40,
				groups: []groupSpec{{name: "size", values: sizesClothing, min: 3, max: 6, contiguous: true}, {name: "color", values: colorsBasic, min: 3, max: 6}}},
			{query: "men's polo shirts", audience: "Men's", names: []string{"Polo Shirt", "Golf Polo", "Pique Polo Shirt"},
				path: "Clothing, Shoes & Jewelry › Men › Clothing › Shirts › Polos", lo: 15, hi: 55,
				groups: []groupSpec{{name: "size", values: sizesClothing, min: 3, max: 6, contiguous: true}, {name: "color", values: colorsBasic, min: 3, max: 6}}},
			{query: "women's hoodies", audience: "Women's", names: []string{"Hoodie", "Pullover Hoodie", "Zip Hoodie Sweatshirt"},
				path: "Clothing, Shoes & Jewelry › Women › Clothing › Fashion Hoodies & Sweatshirts", lo: 20, hi: 65,
				attrs:  [][]string{{"fleece lined"}, {"kangaroo pocket"}},
				groups: []groupSpec{{name: "size", values: sizesClothing, min: 3, max: 6, contiguous: true}, {name: "color", values: colorsBasic, min: 3, max: 6}}},
			{query: "women's blouses", audience: "Women's", names: []string{"Blouse", "Button Down Blouse", "Chiffon Blouse"},
				path: "Clothing, Shoes & Jewelry › Women › Clothing › Tops, Tees & Blouses › Blouses", lo: 15, hi: 50,
				attrs:  [][]string{{"v neck", "round neck"}},
				groups: []groupSpec{{name: "size", values: sizesClothing, min: 3, max: 6, contiguous: true}, {name: "color", values: colorsBasic, min: 3, max: 6}}},
		},
	},
	{
		name:    "dresses",
		brands:  []string{"Rosalind", "Bellamy", "Sunday Muse", "Amaretta", "Liora", "Wildflower Co", "Odessa", "Calla"},
		fillers: []string{"Elegant", "Casual", "Flowy", "Chic", "Boho", "Feminine"},
		attrs: [][]string{
			{"high waist"}, {"v neck", "square neck"}, {"floral print", "polka dot"}, {"sleeveless", "short sleeve"},
			{"hand wash", "machine wash"}, {"polyester spandex"}, {"side pockets"}, {"ruffle hem"}, {"smocked back"},
		},
		intros: []string{
			"The {brand} {name} moves beautifully from brunch to evening plans.",
			"Turn heads in this {name} from {brand}.",
			"A wardrobe favorite, the {brand} {name} is easy to style for any season.",
		},
		middles: []string{"It features {attrs}.", "Details include {attrs}.", "This dress offers {attrs}."},
		closers: []string{"Style it with sandals or heels.", "Perfect for parties, vacations and weddings.", "An easy pick for warm days."},
		benefits: []string{
			"flatters the figure with an easy drape", "keeps you cool and comfortable",
			"adds a graceful touch to any look", "made for all-day comfort",
		},
		extras: []string{"Lined bodice", "Hidden back zipper", "Soft and flowy fabric"},
		types: []typeSpec{
			{query: "women's maxi dresses", audience: "Women's", names: []string{"Maxi Dress", "Long Maxi Dress", "Tiered Maxi Dress"},
				path: "Clothing, Shoes & Jewelry › Women › Clothing › Dresses › Casual", lo: 20, hi: 80,
				groups: []groupSpec{{name: "size", values: sizesClothing, min: 3, max: 6, contiguous: true}, {name: "color", values: colorsBasic, min: 3, max: 6}}},
			{query: "women's cocktail dresses", audience: "Women's", names: []string{"Cocktail Dress", "Party Dress", "Evening Dress"},
				path: "Clothing, Shoes & Jewelry › Women › Clothing › Dresses › Cocktail", lo: 30, hi: 110,
				groups: []groupSpec{{name: "size", values: sizesClothing, min: 3, max: 6, contiguous: true}, {name: "color", values: colorsBasic, min: 3, max: 6}}},
			{query: "women's summer dresses", audience: "Women's", names: []string{"Summer Dress", "Sundress", "Swing Dress"},
				path: "Clothing, Shoes & Jewelry › Women › Clothing › Dresses › Casual", lo: 18, hi: 60,
				groups: []groupSpec{{name: "size", values: sizesClothing, min: 3, max: 6, contiguous: true}, {name: "color", values: colorsBasic, min: 3, max: 6}}},
		},
	},
	{
		name:    "coffee",
		brands:  []string{"Morning Ridge", "Copper Kettle", "Altavista", "Bean & Bloom", "Highland Roasters", "Caffe Lucca", "Sierra Brew", "Oakmont"},
		fillers: []string{"Smooth", "Rich", "Bold", "Gourmet", "Artisan", "Signature"},
		attrs: [][]string{
			{"dark roast", "medium roast", "light roast"}, {"usda organic"}, {"fair trade"}, {"low acid"},
			{"single origin"}, {"decaffeinated"}, {"kosher certified"}, {"arabica beans"}, {"small batch"},
		},
		intros: []string{
			"{brand} {name} brings a cafe quality cup to your kitchen.",
			"Start your morning with {name} from {brand}.",
			"Roasted with care, this {name} by {brand} makes a balanced, satisfying cup.",
		},
		middles: []string{"This coffee is {attrs}.", "Every bag is {attrs}.", "Our blend is {attrs}."},
		closers: []string{"Brew it in a drip machine, french press or pour over.", "Store in a cool, dry place.", "Enjoy it hot or over ice."},
		benefits: []string{
			"for a smooth and balanced cup", "sourced from trusted growers",
			"roasted for full flavor", "a cup you can feel good about",
		},
		extras: []string{"Resealable bag keeps coffee fresh", "Roasted and packed in the USA", "Notes of cocoa and toasted nuts"},
		types: []typeSpec{
			{query: "ground coffee", names: []string{"Ground Coffee", "Drip Grind Coffee", "Coffee Grounds"},
				path: "Grocery & Gourmet Food › Beverages › Coffee, Tea & Cocoa › Coffee › Ground Coffee", lo: 8, hi: 40,
				groups: []groupSpec{{name: "flavor name", values: []string{"original", "french vanilla", "hazelnut", "caramel", "mocha", "cinnamon", "toffee", "breakfast blend"}, min: 2, max: 5},
					{name: "size", values: []string{"12 ounce", "16 ounce", "24 ounce", "2 pound", "5 pound"}, min: 2, max: 4, contiguous: true}}},
			{query: "whole bean coffee", names: []string{"Whole Bean Coffee", "Coffee Beans", "Whole Coffee Beans"},
				path: "Grocery & Gourmet Food › Beverages › Coffee, Tea & Cocoa › Coffee › Whole Coffee Beans", lo: 10, hi: 45,
				groups: []groupSpec{{name: "size", values: []string{"12 ounce", "16 ounce", "2 pound", "5 pound"}, min: 2, max: 4, contiguous: true}}},
			{query: "coffee pods", names: []string{"Coffee Pods", "Single Serve Coffee Pods", "Coffee Capsules"},
				path: "Grocery & Gourmet Food › Beverages › Coffee, Tea & Cocoa › Coffee › Single-Serve Capsules & Pods", lo: 12, hi: 50,
				groups: []groupSpec{{name: "flavor name", values: []string{"original", "french vanilla", "hazelnut", "caramel", "mocha", "cinnamon", "toffee", "breakfast blend"}, min: 2, max: 5},
					{name: "size", values: []string{"pack of 12", "pack of 24", "pack of 48", "pack of 72", "pack of 96"}, min: 2, max: 4, contiguous: true}}},
		},
	},
	{
		name:    "snacks",
		brands:  []string{"Nutmeadow", "Crunch Theory", "Goodfield", "Trailside", "Hearth & Harvest", "Munchwell", "Blue Pine", "Sunny Acre"},
		fillers: []string{"Tasty", "Wholesome", "Crunchy", "Delicious", "Hearty", "Savory"},
		attrs: [][]string{
			{"gluten free"}, {"non gmo"}, {"high protein"}, {"low sugar"}, {"keto friendly"}, {"plant based"},
			{"individually wrapped"}, {"kosher certified"}, {"dairy free"}, {"whole grain"},
		},
		intros: []string{
			"{brand} {name} are the snack you reach for between meetings and workouts.",
			"Keep {name} from {brand} in your bag, desk or pantry.",
			"Snack smarter with {name} by {brand}.",
		},
		middles: []string{"These snacks are {attrs}.", "Each serving is {attrs}.", "Our recipe is {attrs}."},
		closers: []string{"Great for lunch boxes, hikes and road trips.", "Store in a cool, dry place.", "A satisfying bite any time of day."},
		benefits: []string{
			"for a snack you can feel good about", "made with simple ingredients",
			"so you can snack without worry", "for steady energy on the go",
		},
		extras: []string{"Made in a facility with simple ingredients", "Great taste the whole family enjoys", "Convenient for on the go"},
		types: []typeSpec{
			{query: "protein bars", names: []string{"Protein Bars", "Protein Snack Bars", "Nutrition Bars"},
				path: "Grocery & Gourmet Food › Snacks & Sweets › Snack Bars › Protein Bars", lo: 10, hi: 45,
				groups: []groupSpec{{name: "flavor name", values: []string{"chocolate chip", "peanut butter", "cookie dough", "salted caramel", "mixed berry", "birthday cake", "mint chocolate"}, min: 2, max: 5},
					{name: "size", values: packCounts, min: 2, max: 4, contiguous: true}}},
			{query: "trail mix", names: []string{"Trail Mix", "Nut and Fruit Mix", "Snack Mix"},
				path: "Grocery & Gourmet Food › Snacks & Sweets › Nuts & Seeds › Trail Mix", lo: 8, hi: 35,
				groups: []groupSpec{{name: "flavor name", values: []string{"honey almond", "tropical fruit", "dark chocolate", "sea salt", "maple pecan", "cranberry"}, min: 2, max: 4},
					{name: "size", values: packCounts, min: 2, max: 4, contiguous: true}}},
			{query: "potato chips", names: []string{"Potato Chips", "Kettle Cooked Chips", "Potato Crisps"},
				path: "Grocery & Gourmet Food › Snacks & Sweets › Chips & Crisps › Potato Chips", lo: 8, hi: 35,
				groups: []groupSpec{{name: "flavor name", values: []string{"sea salt", "barbecue", "sour cream onion", "salt vinegar", "jalapeno", "cheddar"}, min: 2, max: 5},
					{name: "size", values: packCounts, min: 2, max: 4, contiguous: true}}},
			{query: "granola bites", names: []string{"Granola Bites", "Oat Bites", "Energy Bites"},
				path: "Grocery & Gourmet Food › Snacks & Sweets › Snack Bars › Granola Bars", lo: 8, hi: 35,
				groups: []groupSpec{{name: "flavor name", values: []string{"chocolate chip", "peanut butter", "blueberry", "apple cinnamon", "coconut"}, min: 2, max: 4},
					{name: "size", values: packCounts, min: 2, max: 4, contiguous: true}}},
		},
	},
	{
		name:    "skincare",
		brands:  []string{"Lumiere", "Pure Petal", "Dermaflora", "Aqualis", "Velvet Leaf", "Clarisse", "Botaniq", "Seren"},
		fillers: []string{"Daily", "Gentle", "Nourishing", "Advanced", "Hydrating", "Soothing"},
		attrs: [][]string{
			{"fragrance free"}, {"cruelty free"}, {"paraben free"}, {"hyaluronic acid"}, {"sensitive skin"},
			{"dermatologist tested"}, {"vitamin c"}, {"oil free"}, {"non comedogenic"}, {"natural ingredients"},
		},
		intros: []string{
			"{brand} {name} helps skin look smooth, soft and healthy.",
			"Give your routine a lift with {name} from {brand}.",
			"Formulated for everyday use, {brand} {name} absorbs quickly and feels light.",
		},
		middles: []string{"This formula is {attrs}.", "It is {attrs}.", "Our formula is {attrs}."},
		closers: []string{"Apply morning and night to clean skin.", "Suitable for all skin types.", "Avoid contact with eyes."},
		benefits: []string{
			"for a calm and comfortable feel", "loved by people with delicate skin",
			"to support a healthy looking glow", "for a clean and simple routine",
		},
		extras: []string{"Lightweight texture absorbs quickly", "Suitable for morning and night", "Travel friendly bottle"},
		types: []typeSpec{
			{query: "face moisturizer", names: []string{"Face Moisturizer", "Moisturizing Cream", "Face Cream"},
				path: "Beauty & Personal Care › Skin Care › Face › Creams & Moisturizers", lo: 10, hi: 60,
				groups: []groupSpec{{name: "size", values: []string{"1 fl oz", "1.7 fl oz", "2.5 fl oz", "3.4 fl oz", "5 fl oz"}, min: 2, max: 4, contiguous: true}}},
			{query: "face serum", names: []string{"Face Serum", "Facial Serum", "Brightening Serum"},
				path: "Beauty & Personal Care › Skin Care › Face › Serums", lo: 12, hi: 70,
				groups: []groupSpec{{name: "size", values: []string{"0.5 fl oz", "1 fl oz", "1.7 fl oz", "2 fl oz"}, min: 2, max: 4, contiguous: true}}},
			{query: "sunscreen", names: []string{"Sunscreen Lotion", "Mineral Sunscreen", "Face Sunscreen"},
				path: "Beauty & Personal Care › Skin Care › Sunscreens & Tanning Products › Sunscreens", lo: 8, hi: 40,
				attrs:  [][]string{{"broad spectrum"}, {"reef safe"}},
				groups: []groupSpec{{name: "size", values: []string{"1.7 fl oz", "3 fl oz", "5 fl oz", "8 fl oz"}, min: 2, max: 4, contiguous: true}}},
			{query: "facial cleanser", names: []string{"Facial Cleanser", "Foaming Face Wash", "Gel Cleanser"},
				path: "Beauty & Personal Care › Skin Care › Face › Cleansers", lo: 7, hi: 35,
				groups: []groupSpec{{name: "scent", values: []string{"unscented", "cucumber", "green tea", "lavender", "rose water"}, min: 2, max: 4},
					{name: "size", values: []string{"4 fl oz", "6.7 fl oz", "8 fl oz", "16 fl oz"}, min: 2, max: 4, contiguous: true}}},
		},
	},
	{
		name:    "headphones",
		brands:  []string{"Sonaro", "Audiolux", "Wavecrest", "Pulsetone", "Echora", "Boltwave", "Nimbus Audio", "Tunevo"},
		fillers: []string{"Premium", "Stereo", "Pro", "Portable", "Hi-Fi", "Studio Grade"},
		attrs: [][]string{
			{"noise cancelling"}, {"built-in microphone"}, {"long battery life"}, {"water resistant"}, {"fast charging"},
			{"touch control"}, {"deep bass"}, {"foldable design"}, {"low latency"}, {"hi res audio"},
		},
		intros: []string{
			"{brand} {name} deliver clear, immersive sound wherever you go.",
			"Hear every detail with the {name} from {brand}.",
			"Built for music, calls and games, {brand} {name} pair in seconds.",
		},
		middles: []string{"They offer {attrs}.", "Highlights include {attrs}.", "You get {attrs}."},
		closers: []string{"Works with phones, tablets and laptops.", "Includes a charging cable and quick start guide.", "Backed by a one year warranty."},
		benefits: []string{
			"so you can focus on what you hear", "for hours of listening",
			"made for workouts, commutes and calls", "for crisp and balanced sound",
		},
		extras: []string{"Stable bluetooth connection", "Comfortable for hours of listening", "Charging case included"},
		types: []typeSpec{
			{query: "wireless earbuds", names: []string{"Wireless Earbuds", "True Wireless Earbuds", "Bluetooth Earbuds"},
				path: "Electronics › Headphones, Earbuds & Accessories › Headphones & Earbuds › Earbud Headphones", lo: 20, hi: 150,
				groups: []groupSpec{{name: "color", values: colorsBright, min: 2, max: 5}}},
			{query: "over ear headphones", names: []string{"Over Ear Headphones", "Bluetooth Headphones", "Studio Headphones"},
				path: "Electronics › Headphones, Earbuds & Accessories › Headphones & Earbuds › Over-Ear Headphones", lo: 30, hi: 250,
				groups: []groupSpec{{name: "color", values: colorsBright, min: 2, max: 5}}},
			{query: "gaming headset", names: []string{"Gaming Headset", "Gaming Headphones", "Esports Headset"},
				path: "Electronics › Video Games › Accessories › Headsets", lo: 25, hi: 160,
				attrs:  [][]string{{"rgb lighting"}, {"surround sound"}},
				groups: []groupSpec{{name: "color", values: colorsBright, min: 2, max: 5}}},
		},
	},
	{
		name:    "phone cases",
		brands:  []string{"Shieldify", "Armorix", "Casetta", "Guardline", "Novashell", "Tough Cove", "Slimjacket", "Orbit Gear"},
		fillers: []string{"Protective", "Durable", "Sleek", "Rugged", "Minimal", "Stylish"},
		attrs: [][]string{
			{"shockproof"}, {"wireless charging compatible"}, {"raised edges"}, {"screen protector included"}, {"card holder"},
			{"kickstand"}, {"drop protection"}, {"anti scratch"}, {"magnetic closure"}, {"soft touch finish"},
		},
		intros: []string{
			"Keep your phone safe with the {brand} {name}.",
			"The {name} from {brand} adds protection without the bulk.",
			"{brand} designs the {name} for people who are tough on their phones.",
		},
		middles: []string{"This case offers {attrs}.", "Highlights include {attrs}.", "It comes with {attrs}."},
		closers: []string{"Precise cutouts keep every port and button easy to reach.", "Snaps on in seconds.", "Slips easily into a pocket or bag."},
		benefits: []string{
			"for peace of mind every day", "keeps your phone looking new",
			"without adding bulk", "for everyday protection",
		},
		extras: []string{"Precise cutouts for ports and buttons", "Easy to install and remove", "Grippy sides for a secure hold"},
		types: []typeSpec{
			{query: "iphone case", names: []string{"iPhone Case", "Phone Case for iPhone", "Protective iPhone Cover"},
				path: "Cell Phones & Accessories › Cases, Holsters & Sleeves › Basic Cases", lo: 8, hi: 40,
				groups: []groupSpec{{name: "size", values: []string{"iphone 12", "iphone 13", "iphone 14", "iphone 14 pro", "iphone 15", "iphone 15 pro max"}, min: 2, max: 5},
					{name: "color", values: colorsBright, min: 2, max: 5}}},
			{query: "samsung galaxy case", names: []string{"Galaxy Case", "Phone Case for Samsung Galaxy", "Samsung Phone Cover"},
				path: "Cell Phones & Accessories › Cases, Holsters & Sleeves › Basic Cases", lo: 8, hi: 40,
				groups: []groupSpec{{name: "size", values: []string{"galaxy s22", "galaxy s23", "galaxy s24", "galaxy a54", "galaxy a15"}, min: 2, max: 4},
					{name: "color", values: colorsBright, min: 2, max: 5}}},
			{query: "phone wallet case", names: []string{"Wallet Case", "Leather Wallet Phone Case", "Flip Wallet Case"},
				path: "Cell Phones & Accessories › Cases, Holsters & Sleeves › Wallet Cases", lo: 10, hi: 45,
				groups: []groupSpec{{name: "size", values: []string{"iphone 13", "iphone 14", "iphone 15", "galaxy s23", "galaxy s24"}, min: 2, max: 4},
					{name: "color", values: []string{"black", "brown", "navy", "burgundy", "grey", "pink"}, min: 2, max: 4}}},
		},
	},
	{
		name:    "furniture",
		brands:  []string{"Oak & Ash", "Hearthstone", "Linden Home", "Nordvik", "Modway Living", "Cedar Lane", "Arbor Craft", "Homelyn"},
		fillers: []string{"Modern", "Classic", "Contemporary", "Sturdy", "Minimalist", "Home"},
		attrs: [][]string{
			{"easy assembly"}, {"solid wood", "engineered wood"}, {"mid century"}, {"metal frame"}, {"height adjustable"},
			{"storage space"}, {"industrial style"}, {"rustic finish"}, {"space saving"}, {"scratch resistant"},
		},
		intros: []string{
			"The {brand} {name} brings clean lines and sturdy build to your home.",
			"Upgrade your space with the {name} from {brand}.",
			"{brand} builds the {name} to look good and last for years.",
		},
		middles: []string{"It offers {attrs}.", "Highlights include {attrs}.", "This piece features {attrs}."},
		closers: []string{"All hardware and instructions are included.", "Fits living rooms, offices and bedrooms.", "Wipe clean with a soft cloth."},
		benefits: []string{
			"for a tidy and welcoming home", "built to last through daily use",
			"so it fits right into your space", "for a polished look",
		},
		extras: []string{"All hardware included", "Protective foot pads", "Smooth finish that is easy to wipe"},
		types: []typeSpec{
			{query: "office chair", names: []string{"Office Chair", "Desk Chair", "Task Chair"},
				path: "Home & Kitchen › Furniture › Home Office Furniture › Home Office Chairs", lo: 60, hi: 300,
				attrs:  [][]string{{"lumbar support"}, {"swivel base"}},
				groups: []groupSpec{{name: "color", values: []string{"black", "white", "grey", "navy", "pink", "beige"}, min: 2, max: 4}}},
			{query: "bookshelf", names: []string{"Bookshelf", "Bookcase", "Display Shelf"},
				path: "Home & Kitchen › Furniture › Living Room Furniture › Bookcases", lo: 40, hi: 250,
				groups: []groupSpec{{name: "color", values: colorsWood, min: 2, max: 4}, {name: "size", values: []string{"3 tier", "4 tier", "5 tier", "6 tier"}, min: 2, max: 3, contiguous: true}}},
			{query: "coffee table", names: []string{"Coffee Table", "Cocktail Table", "Lift Top Coffee Table"},
				path: "Home & Kitchen › Furniture › Living Room Furniture › Tables › Coffee Tables", lo: 50, hi: 280,
				groups: []groupSpec{{name: "color", values: colorsWood, min: 2, max: 4}}},
			{query: "tv stand", names: []string{"TV Stand", "Media Console", "Entertainment Center"},
				path: "Home & Kitchen › Furniture › Living Room Furniture › TV & Media Furniture", lo: 60, hi: 300,
				groups: []groupSpec{{name: "color", values: colorsWood, min: 2, max: 4}}},
		},
	},
	{
		name:    "kitchen",
		brands:  []string{"Chef Harbor", "Copperline", "Kitchora", "Sage & Salt", "Ironwood", "Culina", "Brightpan", "Homestead Cookware"},
		fillers: []string{"Professional", "Premium", "Essential", "Heavy Duty", "Everyday", "Classic"},
		attrs: [][]string{
			{"dishwasher safe"}, {"bpa free"}, {"stainless steel"}, {"non stick"}, {"oven safe"}, {"easy clean"},
			{"induction compatible"}, {"heat resistant"}, {"ergonomic handle"}, {"leak proof"},
		},
		intros: []string{
			"Cook with confidence using the {brand} {name}.",
			"The {name} from {brand} is made for busy home kitchens.",
			"{brand} {name} combines smart design with everyday durability.",
		},
		middles: []string{"It is {attrs}.", "Highlights include {attrs}.", "You get {attrs}."},
		closers: []string{"A thoughtful gift for new homes and home cooks.", "Hand washing extends its life.", "Backed by a lifetime guarantee."},
		benefits: []string{
			"for easy meals every day", "built to handle daily cooking",
			"so cleanup takes less time", "for reliable results",
		},
		extras: []string{"Thoughtful gift for home cooks", "Comfortable grip", "Built for daily use"},
		types: []typeSpec{
			{query: "frying pan", names: []string{"Frying Pan", "Skillet", "Fry Pan"},
				path: "Home & Kitchen › Kitchen & Dining › Cookware › Pots & Pans › Skillets", lo: 15, hi: 120,
				groups: []groupSpec{{name: "size", values: []string{"8 inch", "10 inch", "12 inch", "14 inch"}, min: 2, max: 4, contiguous: true},
					{name: "color", values: []string{"black", "grey", "blue", "green", "silver", "beige"}, min: 2, max: 4}}},
			{query: "knife set", names: []string{"Knife Set", "Kitchen Knife Block Set", "Chef Knife Set"},
				path: "Home & Kitchen › Kitchen & Dining › Cutlery & Knife Accessories › Knife Block Sets", lo: 25, hi: 200,
				groups: []groupSpec{{name: "size", values: []string{"6 piece", "8 piece", "12 piece", "15 piece"}, min: 2, max: 3, contiguous: true},
					{name: "color", values: []string{"black", "silver", "white", "blue"}, min: 2, max: 3}}},
			{query: "cutting board", names: []string{"Cutting Board", "Chopping Board", "Carving Board"},
				path: "Home & Kitchen › Kitchen & Dining › Kitchen Utensils & Gadgets › Cutting Boards", lo: 12, hi: 70,
				groups: []groupSpec{{name: "size", values: []string{"small", "medium", "large", "set of 3"}, min: 2, max: 4}}},
			{query: "food storage containers", names: []string{"Food Storage Containers", "Meal Prep Containers", "Glass Storage Containers"},
				path: "Home & Kitchen › Kitchen & Dining › Storage & Organization › Food Storage", lo: 15, hi: 60,
				groups: []groupSpec{{name: "size", values: []string{"set of 5", "set of 10", "set of 18", "set of 24"}, min: 2, max: 4, contiguous: true}}},
		},
	},
	{
		name:    "bedding",
		brands:  []string{"Dreamhaven", "Nightfall", "Softloom", "Cloudrest", "Linen & Lark", "Slumberwell", "Pinecrest", "Moonbeam"},
		fillers: []string{"Luxury", "Soft", "Cozy", "Premium", "Plush", "Hotel Style"},
		attrs: [][]string{
			{"machine washable"}, {"hypoallergenic"}, {"deep pocket"}, {"cooling"}, {"down alternative"},
			{"wrinkle resistant"}, {"fade resistant"}, {"all season"}, {"brushed microfiber"}, {"egyptian cotton"},
		},
		intros: []string{
			"Sleep soundly with the {brand} {name}.",
			"The {name} from {brand} turns your bed into a retreat.",
			"{brand} {name} is soft, breathable and easy to care for.",
		},
		middles: []string{"It is {attrs}.", "Highlights include {attrs}.", "This set offers {attrs}."},
		closers: []string{"Tumble dry low.", "Arrives in a reusable storage bag.", "Easy care for busy households."},
		benefits: []string{
			"for deep and restorative sleep", "so your bed stays inviting",
			"for comfort through the night", "easy care wash after wash",
		},
		extras: []string{"Soft to the touch", "Arrives in a reusable storage bag", "Easy care for busy households"},
		types: []typeSpec{
			{query: "bed sheet set", names: []string{"Sheet Set", "Bed Sheet Set", "Bed Sheets"},
				path: "Home & Kitchen › Bedding › Sheets & Pillowcases › Sheet & Pillowcase Sets", lo: 20, hi: 110,
				groups: []groupSpec{{name: "size", values: []string{"twin", "twin xl", "full", "queen", "king", "california king"}, min: 3, max: 6},
					{name: "color", values: colorsHome, min: 3, max: 6}}},
			{query: "comforter", names: []string{"Comforter", "Duvet Insert", "Quilted Comforter"},
				path: "Home & Kitchen › Bedding › Comforters & Sets › Comforters", lo: 30, hi: 150,
				groups: []groupSpec{{name: "size", values: []string{"twin", "full", "queen", "king"}, min: 2, max: 4},
					{name: "color", values: colorsHome, min: 2, max: 5}}},
			{query: "bed pillows", names: []string{"Bed Pillows", "Pillows for Sleeping", "Pillow Set"},
				path: "Home & Kitchen › Bedding › Bed Pillows & Positioners › Bed Pillows", lo: 18, hi: 90,
				groups: []groupSpec{{name: "size", values: []string{"standard", "queen", "king"}, min: 2, max: 3}}},
		},
	},
	{
		name:    "pet supplies",
		brands:  []string{"Pawsome", "Barkley & Co", "Happy Tails", "Furbish", "Petcraft", "Wagwell", "Snuggle Paws", "Kibble Kind"},
		fillers: []string{"Premium", "Cozy", "Durable", "Comfy", "Sturdy", "Soft"},
		attrs: [][]string{
			{"washable cover"}, {"non slip bottom"}, {"orthopedic"}, {"waterproof liner"}, {"reflective strips"},
			{"chew resistant"}, {"easy to clean"}, {"padded"}, {"escape proof"}, {"breathable"},
		},
		intros: []string{
			"Give your pet a little luxury with the {brand} {name}.",
			"The {name} from {brand} is made for happy, healthy pets.",
			"{brand} {name} is built for pets and the people who love them.",
		},
		middles: []string{"It offers {attrs}.", "Highlights include {attrs}.", "You get {attrs}."},
		closers: []string{"Check the size chart before ordering.", "Loved by pets of every breed.", "Backed by our happy pet promise."},
		benefits: []string{
			"for a happy and comfortable pet", "made to handle daily use",
			"so your pet feels at home", "for worry free walks and naps",
		},
		extras: []string{"Loved by pets of every breed", "Simple to set up", "Vet approved design"},
		types: []typeSpec{
			{query: "dog bed", names: []string{"Dog Bed", "Pet Bed for Dogs", "Calming Dog Bed"},
				path: "Pet Supplies › Dogs › Beds & Furniture › Beds", lo: 20, hi: 110,
				groups: []groupSpec{{name: "size", values: []string{"small", "medium", "large", "x-large", "jumbo"}, min: 2, max: 5, contiguous: true},
					{name: "color", values: colorsHome, min: 2, max: 4}}},
			{query: "dog harness", names: []string{"Dog Harness", "Pet Harness", "Walking Harness"},
				path: "Pet Supplies › Dogs › Collars, Harnesses & Leashes › Harnesses", lo: 12, hi: 50,
				attrs: [][]string{{"no pull"}, {"adjustable straps"}},
				groups: []groupSpec{{name: "size", values: []string{"x-small", "small", "medium", "large", "x-large"}, min: 3, max: 5, contiguous: true},
					{name: "color", values: colorsBright, min: 2, max: 5}}},
			{query: "cat tree", names: []string{"Cat Tree", "Cat Tower", "Cat Condo"},
				path: "Pet Supplies › Cats › Cat Furniture › Trees", lo: 30, hi: 160,
				attrs:  [][]string{{"sisal scratching posts"}},
				groups: []groupSpec{{name: "color", values: colorsHome, min: 2, max: 4}}},
		},
	},
	{
		name:    "hair care",
		brands:  []string{"Silkora", "Mane Street", "Verdant", "Luxe Locks", "Haven Botanicals", "Tressa", "Aurelle", "Coastline"},
		fillers: []string{"Salon", "Nourishing", "Gentle", "Daily", "Professional", "Revitalizing"},
		attrs: [][]string{
			{"sulfate free"}, {"paraben free"}, {"color safe"}, {"argan oil"}, {"dry hair"}, {"curly hair"},
			{"anti frizz"}, {"volumizing"}, {"natural ingredients"}, {"cruelty free"},
		},
		intros: []string{
			"{brand} {name} leaves hair soft, shiny and easy to manage.",
			"Treat your hair to {name} from {brand}.",
			"Salon results at home: {brand} {name} cleans and cares in one step.",
		},
		middles: []string{"This formula is {attrs}.", "It is {attrs}.", "Our formula is {attrs}."},
		closers: []string{"Massage into wet hair and rinse well.", "Suitable for daily use.", "Made without harsh ingredients."},
		benefits: []string{
			"for soft and healthy looking hair", "so hair stays manageable all day",
			"gentle enough for daily use", "for a salon finish at home",
		},
		extras: []string{"Salon quality at home", "Rinses clean without residue", "Suitable for all hair types"},
		types: []typeSpec{
			{query: "shampoo", names: []string{"Shampoo", "Moisturizing Shampoo", "Clarifying Shampoo"},
				path: "Beauty & Personal Care › Hair Care › Shampoo & Conditioner › Shampoos", lo: 7, hi: 40,
				groups: []groupSpec{{name: "scent", values: []string{"coconut", "lavender", "unscented", "citrus", "eucalyptus mint", "vanilla"}, min: 2, max: 4},
					{name: "size", values: []string{"8 fl oz", "12 fl oz", "16 fl oz", "33.8 fl oz"}, min: 2, max: 4, contiguous: true}}},
			{query: "conditioner", names: []string{"Conditioner", "Hydrating Conditioner", "Leave In Conditioner"},
				path: "Beauty & Personal Care › Hair Care › Shampoo & Conditioner › Conditioners", lo: 7, hi: 40,
				groups: []groupSpec{{name: "scent", values: []string{"coconut", "lavender", "unscented", "citrus", "eucalyptus mint", "vanilla"}, min: 2, max: 4},
					{name: "size", values: []string{"8 fl oz", "12 fl oz", "16 fl oz", "33.8 fl oz"}, min: 2, max: 4, contiguous: true}}},
			{query: "hair oil", names: []string{"Hair Oil", "Hair Serum", "Scalp Oil"},
				path: "Beauty & Personal Care › Hair Care › Styling Products › Oils & Serums", lo: 8, hi: 45,
				groups: []groupSpec{{name: "size", values: []string{"2 fl oz", "4 fl oz", "8 fl oz"}, min: 2, max: 3, contiguous: true}}},
		},
	},
}
