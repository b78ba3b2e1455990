package zxcvbn

import "math"

// The copy keeps only the score of upstream's attack-time estimates.
func guessesToScore(guesses float64) int {
	const DELTA = 5
	if guesses < 1e3+DELTA {
		// risky password: "too guessable"
		return 0
	}
	if guesses < 1e6+DELTA {
		// modest protection from throttled online attacks: "very guessable"
		return 1
	}
	if guesses < 1e8+DELTA {
		// modest protection from unthrottled online attacks: "somewhat guessable"
		return 2
	}
	if guesses < 1e10+DELTA {
		// modest protection from offline attacks: "safely unguessable"
		// assuming a salted, slow hash function like bcrypt, scrypt, PBKDF2, argon, etc
		return 3
	}
	// strong protection from offline attacks under same scenario: "very unguessable"
	return 4
}

func round(val float64, roundOn float64, places int) (newVal float64) {
	var round float64
	pow := math.Pow(10, float64(places))
	digit := pow * val
	_, div := math.Modf(digit)
	if div >= roundOn {
		round = math.Ceil(digit)
	} else {
		round = math.Floor(digit)
	}
	newVal = round / pow
	return
}
