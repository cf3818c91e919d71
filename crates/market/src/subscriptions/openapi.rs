//! The OpenAPI fragment of the plan and subscription routes, merged into the market's ([`crate::openapi`]).

/// `paths` and `components` (parameters, responses and schemas) of this module's routes.
pub(crate) const OPENAPI: &str = r##"{
  "paths": {
             "/v1/plans": {
                            "get": {
                                     "summary": "Subscription plans on sale, newest first (free)",
                                     "description": "Each plan bundles some of its provider's services for a price per period (monthly = 30 days, annual = 365 days). price is what the provider receives; agent_price adds the market's fee and is what a subscriber pays per period from its prepaid balance.",
                                     "parameters": [
                                                     {
                                                       "name": "provider",
                                                       "in": "query",
                                                       "description": "Only this provider's plans: its participant id or wallet",
                                                       "schema": {"type": "string"}
                                                     },
                                                     {
                                                       "name": "limit",
                                                       "in": "query",
                                                       "schema": {
                                                                   "type": "integer",
                                                                   "minimum": 1,
                                                                   "maximum": 200,
                                                                   "default": 50
                                                                 }
                                                     },
                                                     {
                                                       "name": "offset",
                                                       "in": "query",
                                                       "schema": {
                                                                   "type": "integer",
                                                                   "minimum": 0,
                                                                   "maximum": 100000,
                                                                   "default": 0
                                                                 }
                                                     }
                                                   ],
                                     "responses": {
                                                    "200": {
                                                             "description": "One page",
                                                             "content": {
                                                                          "application/json": {
                                                                                                "schema": {
                                                                                                            "$ref": "#/components/schemas/MarketPlanPage"
                                                                                                          }
                                                                                              }
                                                                        }
                                                           },
                                                    "400": {"$ref": "#/components/responses/MarketBadRequest"},
                                                    "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
                                                    "408": {"$ref": "#/components/responses/MarketTimeout"},
                                                    "429": {"$ref": "#/components/responses/MarketRateLimited"},
                                                    "500": {"$ref": "#/components/responses/MarketInternal"}
                                                  }
                                   },
                            "post": {
                                      "summary": "Sell a plan: a price per period for a bundle of your services (providers)",
                                      "security": [{"MarketApiKey": []}],
                                      "requestBody": {
                                                       "required": true,
                                                       "content": {
                                                                    "application/json": {
                                                                                          "schema": {
                                                                                                      "$ref": "#/components/schemas/MarketPlanCreate"
                                                                                                    }
                                                                                        }
                                                                  }
                                                     },
                                      "responses": {
                                                     "201": {
                                                              "description": "The plan",
                                                              "content": {
                                                                           "application/json": {
                                                                                                 "schema": {
                                                                                                             "$ref": "#/components/schemas/MarketPlan"
                                                                                                           }
                                                                                               }
                                                                         }
                                                            },
                                                     "400": {"$ref": "#/components/responses/MarketBadRequest"},
                                                     "401": {"$ref": "#/components/responses/MarketUnauthorized"},
                                                     "403": {"$ref": "#/components/responses/MarketForbidden"},
                                                     "404": {"$ref": "#/components/responses/MarketNotFound"},
                                                     "405": {
                                                              "$ref": "#/components/responses/MarketMethodNotAllowed"
                                                            },
                                                     "408": {"$ref": "#/components/responses/MarketTimeout"},
                                                     "413": {"$ref": "#/components/responses/MarketBodyTooLarge"},
                                                     "415": {
                                                              "$ref": "#/components/responses/MarketUnsupportedMediaType"
                                                            },
                                                     "429": {"$ref": "#/components/responses/MarketRateLimited"},
                                                     "500": {"$ref": "#/components/responses/MarketInternal"}
                                                   }
                                    }
                          },
             "/v1/plans/{id}": {
                                 "parameters": [{"$ref": "#/components/parameters/MarketPlanId"}],
                                 "get": {
                                          "summary": "One plan (free)",
                                          "responses": {
                                                         "200": {
                                                                  "description": "The plan",
                                                                  "content": {
                                                                               "application/json": {
                                                                                                     "schema": {
                                                                                                                 "$ref": "#/components/schemas/MarketPlan"
                                                                                                               }
                                                                                                   }
                                                                             }
                                                                },
                                                         "404": {"$ref": "#/components/responses/MarketNotFound"},
                                                         "405": {
                                                                  "$ref": "#/components/responses/MarketMethodNotAllowed"
                                                                },
                                                         "408": {"$ref": "#/components/responses/MarketTimeout"},
                                                         "429": {"$ref": "#/components/responses/MarketRateLimited"},
                                                         "500": {"$ref": "#/components/responses/MarketInternal"}
                                                       }
                                        },
                                 "put": {
                                          "summary": "Change your plan: name, description, price, services, max_requests (for subscriptions made from now on)",
                                          "security": [{"MarketApiKey": []}],
                                          "requestBody": {
                                                           "required": true,
                                                           "content": {
                                                                        "application/json": {
                                                                                              "schema": {
                                                                                                          "$ref": "#/components/schemas/MarketPlanUpdate"
                                                                                                        }
                                                                                            }
                                                                      }
                                                         },
                                          "responses": {
                                                         "200": {
                                                                  "description": "The plan",
                                                                  "content": {
                                                                               "application/json": {
                                                                                                     "schema": {
                                                                                                                 "$ref": "#/components/schemas/MarketPlan"
                                                                                                               }
                                                                                                   }
                                                                             }
                                                                },
                                                         "400": {"$ref": "#/components/responses/MarketBadRequest"},
                                                         "401": {
                                                                  "$ref": "#/components/responses/MarketUnauthorized"
                                                                },
                                                         "403": {"$ref": "#/components/responses/MarketForbidden"},
                                                         "404": {"$ref": "#/components/responses/MarketNotFound"},
                                                         "405": {
                                                                  "$ref": "#/components/responses/MarketMethodNotAllowed"
                                                                },
                                                         "408": {"$ref": "#/components/responses/MarketTimeout"},
                                                         "413": {
                                                                  "$ref": "#/components/responses/MarketBodyTooLarge"
                                                                },
                                                         "415": {
                                                                  "$ref": "#/components/responses/MarketUnsupportedMediaType"
                                                                },
                                                         "429": {"$ref": "#/components/responses/MarketRateLimited"},
                                                         "500": {"$ref": "#/components/responses/MarketInternal"}
                                                       }
                                        },
                                 "delete": {
                                             "summary": "Stop selling your plan; its subscriptions run on as their terms say",
                                             "security": [{"MarketApiKey": []}],
                                             "responses": {
                                                            "204": {"description": "Deleted"},
                                                            "401": {
                                                                     "$ref": "#/components/responses/MarketUnauthorized"
                                                                   },
                                                            "403": {
                                                                     "$ref": "#/components/responses/MarketForbidden"
                                                                   },
                                                            "404": {"$ref": "#/components/responses/MarketNotFound"},
                                                            "405": {
                                                                     "$ref": "#/components/responses/MarketMethodNotAllowed"
                                                                   },
                                                            "408": {"$ref": "#/components/responses/MarketTimeout"},
                                                            "429": {
                                                                     "$ref": "#/components/responses/MarketRateLimited"
                                                                   },
                                                            "500": {"$ref": "#/components/responses/MarketInternal"}
                                                          }
                                           }
                               },
             "/v1/plans/{id}/subscribe": {
                                           "parameters": [{"$ref": "#/components/parameters/MarketPlanId"}],
                                           "post": {
                                                     "summary": "Subscribe: the first period (agent_price) from your prepaid balance, or through x402 into it",
                                                     "security": [{"MarketApiKey": []}],
                                                     "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "properties": {"agent_price": {"type": "string", "description": "The agent_price you read and agree to pay per period (USDC): a plan that costs anything else now is refused with 409 plan_changed. A plan changed between its read and the subscription (price, services, requests, deleted) is refused with plan_changed either way.", "example": "10.50"}}}}}},
                                                     "description": "Pays the first period (agent_price) from your prepaid balance when it covers it: in one transaction the market refuses a second live subscription to the plan (409 already_subscribed) or a standing withdrawal request (409 withdrawal_pending), holds the first period's price back from your balance and queues the subscription's opening on the Subscriptions contract, its first period charged in the same transaction. When the balance is short it answers 402 (with X-Balance-Refused: insufficient_balance) asking for exactly agent_price paid into the balance vault; any x402 client pays it from your registered wallet (403 wallet_mismatch otherwise), the deposit is settled, and once the indexer confirms it the subscription is made from it. Answered 202 with the subscription pending; it turns active when the indexer sees the first charge.",
                                                     "responses": {
                                                                    "202": {
                                                                             "description": "Queued for the chain (the subscription, pending); or, paid through x402 with the deposit not confirmed within the wait, the deposit and subscription null: subscribe again",
                                                                             "headers": {
                                                                                          "PAYMENT-RESPONSE": {
                                                                                                                "$ref": "#/components/headers/MarketPaymentResponse"
                                                                                                              },
                                                                                          "X-PAYMENT-RESPONSE": {
                                                                                                                  "$ref": "#/components/headers/MarketXPaymentResponse"
                                                                                                                }
                                                                                        },
                                                                             "content": {
                                                                                          "application/json": {
                                                                                                                "schema": {
                                                                                                                            "oneOf": [
                                                                                                                                       {
                                                                                                                                         "$ref": "#/components/schemas/MarketSubscription"
                                                                                                                                       },
                                                                                                                                       {
                                                                                                                                         "type": "object",
                                                                                                                                         "required": [
                                                                                                                                                       "subscription",
                                                                                                                                                       "deposit",
                                                                                                                                                       "message"
                                                                                                                                                     ],
                                                                                                                                         "properties": {
                                                                                                                                                         "subscription": {
                                                                                                                                                                           "type": "null"
                                                                                                                                                                         },
                                                                                                                                                         "deposit": {
                                                                                                                                                                      "type": "object"
                                                                                                                                                                    },
                                                                                                                                                         "message": {
                                                                                                                                                                      "type": "string"
                                                                                                                                                                    }
                                                                                                                                                       }
                                                                                                                                       }
                                                                                                                                     ]
                                                                                                                          }
                                                                                                              }
                                                                                        }
                                                                           },
                                                                    "400": {
                                                                             "$ref": "#/components/responses/MarketBadRequest"
                                                                           },
                                                                    "401": {
                                                                             "$ref": "#/components/responses/MarketUnauthorized"
                                                                           },
                                                                    "402": {
                                                                             "$ref": "#/components/responses/MarketPaymentRequired"
                                                                           },
                                                                    "403": {
                                                                             "$ref": "#/components/responses/MarketForbidden"
                                                                           },
                                                                    "404": {
                                                                             "$ref": "#/components/responses/MarketNotFound"
                                                                           },
                                                                    "405": {
                                                                             "$ref": "#/components/responses/MarketMethodNotAllowed"
                                                                           },
                                                                    "408": {
                                                                             "$ref": "#/components/responses/MarketTimeout"
                                                                           },
                                                                    "409": {
                                                                             "$ref": "#/components/responses/MarketSubscriptionConflict"
                                                                           },
                                                                    "429": {
                                                                             "$ref": "#/components/responses/MarketRateLimited"
                                                                           },
                                                                    "500": {
                                                                             "$ref": "#/components/responses/MarketInternal"
                                                                           },
                                                                    "503": {
                                                                             "$ref": "#/components/responses/MarketSubscriptionsUnavailable"
                                                                           }
                                                                  }
                                                   }
                                         },
             "/v1/subscriptions": {
                                    "get": {
                                             "summary": "Your subscriptions (role=agent), or your plans' subscribers (role=provider), newest first",
                                             "security": [{"MarketApiKey": []}],
                                             "parameters": [
                                                             {
                                                               "name": "status",
                                                               "in": "query",
                                                               "schema": {
                                                                           "$ref": "#/components/schemas/MarketSubscriptionStatus"
                                                                         }
                                                             },
                                                             {
                                                               "name": "role",
                                                               "in": "query",
                                                               "schema": {
                                                                           "type": "string",
                                                                           "enum": ["agent", "provider"],
                                                                           "default": "agent"
                                                                         }
                                                             },
                                                             {
                                                               "name": "limit",
                                                               "in": "query",
                                                               "schema": {
                                                                           "type": "integer",
                                                                           "minimum": 1,
                                                                           "maximum": 200,
                                                                           "default": 50
                                                                         }
                                                             }
                                                           ],
                                             "responses": {
                                                            "200": {
                                                                     "description": "The subscriptions",
                                                                     "content": {
                                                                                  "application/json": {
                                                                                                        "schema": {
                                                                                                                    "$ref": "#/components/schemas/MarketSubscriptionList"
                                                                                                                  }
                                                                                                      }
                                                                                }
                                                                   },
                                                            "400": {
                                                                     "$ref": "#/components/responses/MarketBadRequest"
                                                                   },
                                                            "401": {
                                                                     "$ref": "#/components/responses/MarketUnauthorized"
                                                                   },
                                                            "405": {
                                                                     "$ref": "#/components/responses/MarketMethodNotAllowed"
                                                                   },
                                                            "408": {"$ref": "#/components/responses/MarketTimeout"},
                                                            "429": {
                                                                     "$ref": "#/components/responses/MarketRateLimited"
                                                                   },
                                                            "500": {"$ref": "#/components/responses/MarketInternal"}
                                                          }
                                           }
                                  },
             "/v1/subscriptions/{id}": {
                                         "parameters": [{"$ref": "#/components/parameters/MarketSubscriptionId"}],
                                         "get": {
                                                  "summary": "One subscription of yours (as subscriber or provider)",
                                                  "security": [{"MarketApiKey": []}],
                                                  "responses": {
                                                                 "200": {
                                                                          "description": "The subscription",
                                                                          "content": {
                                                                                       "application/json": {
                                                                                                             "schema": {
                                                                                                                         "$ref": "#/components/schemas/MarketSubscription"
                                                                                                                       }
                                                                                                           }
                                                                                     }
                                                                        },
                                                                 "401": {
                                                                          "$ref": "#/components/responses/MarketUnauthorized"
                                                                        },
                                                                 "404": {
                                                                          "$ref": "#/components/responses/MarketNotFound"
                                                                        },
                                                                 "405": {
                                                                          "$ref": "#/components/responses/MarketMethodNotAllowed"
                                                                        },
                                                                 "408": {
                                                                          "$ref": "#/components/responses/MarketTimeout"
                                                                        },
                                                                 "429": {
                                                                          "$ref": "#/components/responses/MarketRateLimited"
                                                                        },
                                                                 "500": {
                                                                          "$ref": "#/components/responses/MarketInternal"
                                                                        }
                                                               }
                                                }
                                       },
             "/v1/subscriptions/{id}/cancel": {
                                                "parameters": [
                                                                {
                                                                  "$ref": "#/components/parameters/MarketSubscriptionId"
                                                                }
                                                              ],
                                                "post": {
                                                          "summary": "Cancel your subscription",
                                                          "description": "Cancel for good: no further renewal; access lasts until paid_through. Answered 202: the operator's cancel is queued for the chain, and the status turns cancelled when the indexer sees it.",
                                                          "security": [{"MarketApiKey": []}],
                                                          "responses": {
                                                                         "202": {
                                                                                  "description": "Queued for the chain",
                                                                                  "content": {
                                                                                               "application/json": {
                                                                                                                     "schema": {
                                                                                                                                 "$ref": "#/components/schemas/MarketSubscriptionRequested"
                                                                                                                               }
                                                                                                                   }
                                                                                             }
                                                                                },
                                                                         "401": {
                                                                                  "$ref": "#/components/responses/MarketUnauthorized"
                                                                                },
                                                                         "404": {
                                                                                  "$ref": "#/components/responses/MarketNotFound"
                                                                                },
                                                                         "405": {
                                                                                  "$ref": "#/components/responses/MarketMethodNotAllowed"
                                                                                },
                                                                         "408": {
                                                                                  "$ref": "#/components/responses/MarketTimeout"
                                                                                },
                                                                         "409": {
                                                                                  "$ref": "#/components/responses/MarketSubscriptionConflict"
                                                                                },
                                                                         "429": {
                                                                                  "$ref": "#/components/responses/MarketRateLimited"
                                                                                },
                                                                         "500": {
                                                                                  "$ref": "#/components/responses/MarketInternal"
                                                                                },
                                                                         "503": {
                                                                                  "$ref": "#/components/responses/MarketSubscriptionsUnavailable"
                                                                                }
                                                                       }
                                                        }
                                              },
             "/v1/subscriptions/{id}/pause": {
                                               "parameters": [
                                                               {
                                                                 "$ref": "#/components/parameters/MarketSubscriptionId"
                                                               }
                                                             ],
                                               "post": {
                                                         "summary": "Pause your subscription",
                                                         "description": "Stop renewals: access lasts until paid_through; a paused subscription expires when its next period lapses unpaid. Answered 202 (queued for the chain).",
                                                         "security": [{"MarketApiKey": []}],
                                                         "responses": {
                                                                        "202": {
                                                                                 "description": "Queued for the chain",
                                                                                 "content": {
                                                                                              "application/json": {
                                                                                                                    "schema": {
                                                                                                                                "$ref": "#/components/schemas/MarketSubscriptionRequested"
                                                                                                                              }
                                                                                                                  }
                                                                                            }
                                                                               },
                                                                        "401": {
                                                                                 "$ref": "#/components/responses/MarketUnauthorized"
                                                                               },
                                                                        "404": {
                                                                                 "$ref": "#/components/responses/MarketNotFound"
                                                                               },
                                                                        "405": {
                                                                                 "$ref": "#/components/responses/MarketMethodNotAllowed"
                                                                               },
                                                                        "408": {
                                                                                 "$ref": "#/components/responses/MarketTimeout"
                                                                               },
                                                                        "409": {
                                                                                 "$ref": "#/components/responses/MarketSubscriptionConflict"
                                                                               },
                                                                        "429": {
                                                                                 "$ref": "#/components/responses/MarketRateLimited"
                                                                               },
                                                                        "500": {
                                                                                 "$ref": "#/components/responses/MarketInternal"
                                                                               },
                                                                        "503": {
                                                                                 "$ref": "#/components/responses/MarketSubscriptionsUnavailable"
                                                                               }
                                                                      }
                                                       }
                                             },
             "/v1/subscriptions/{id}/resume": {
                                                "parameters": [
                                                                {
                                                                  "$ref": "#/components/parameters/MarketSubscriptionId"
                                                                }
                                                              ],
                                                "post": {
                                                          "summary": "Resume your subscription",
                                                          "description": "Renew again; refused once the next period has lapsed (the subscription is then expired). Answered 202 (queued for the chain).",
                                                          "security": [{"MarketApiKey": []}],
                                                          "responses": {
                                                                         "202": {
                                                                                  "description": "Queued for the chain",
                                                                                  "content": {
                                                                                               "application/json": {
                                                                                                                     "schema": {
                                                                                                                                 "$ref": "#/components/schemas/MarketSubscriptionRequested"
                                                                                                                               }
                                                                                                                   }
                                                                                             }
                                                                                },
                                                                         "401": {
                                                                                  "$ref": "#/components/responses/MarketUnauthorized"
                                                                                },
                                                                         "404": {
                                                                                  "$ref": "#/components/responses/MarketNotFound"
                                                                                },
                                                                         "405": {
                                                                                  "$ref": "#/components/responses/MarketMethodNotAllowed"
                                                                                },
                                                                         "408": {
                                                                                  "$ref": "#/components/responses/MarketTimeout"
                                                                                },
                                                                         "409": {
                                                                                  "$ref": "#/components/responses/MarketSubscriptionConflict"
                                                                                },
                                                                         "429": {
                                                                                  "$ref": "#/components/responses/MarketRateLimited"
                                                                                },
                                                                         "500": {
                                                                                  "$ref": "#/components/responses/MarketInternal"
                                                                                },
                                                                         "503": {
                                                                                  "$ref": "#/components/responses/MarketSubscriptionsUnavailable"
                                                                                }
                                                                       }
                                                        }
                                              }
           },
  "components": {
                  "parameters": {
                                  "MarketPlanId": {
                                                    "name": "id",
                                                    "in": "path",
                                                    "required": true,
                                                    "schema": {"type": "string", "format": "uuid"}
                                                  },
                                  "MarketSubscriptionId": {
                                                            "name": "id",
                                                            "in": "path",
                                                            "required": true,
                                                            "schema": {
                                                                        "type": "string",
                                                                        "pattern": "^0x[0-9a-fA-F]{64}$"
                                                                      }
                                                          }
                                },
                  "responses": {
                                 "MarketSubscriptionConflict": {
                                                                 "description": "already_subscribed, insufficient_balance, withdrawal_pending, subscription_status_conflict or plan_changed",
                                                                 "content": {
                                                                              "application/json": {
                                                                                                    "schema": {
                                                                                                                "$ref": "#/components/schemas/MarketError"
                                                                                                              }
                                                                                                  }
                                                                            }
                                                               },
                                 "MarketSubscriptionsUnavailable": {
                                                                     "description": "subscriptions_unavailable or balances_unavailable: no Subscriptions contract or vault is deployed, or this server's relayer is not the vault's operator",
                                                                     "content": {
                                                                                  "application/json": {
                                                                                                        "schema": {
                                                                                                                    "$ref": "#/components/schemas/MarketError"
                                                                                                                  }
                                                                                                      }
                                                                                }
                                                                   }
                               },
                  "schemas": {
                               "MarketPlan": {
                                               "type": "object",
                                               "required": [
                                                             "id",
                                                             "provider_id",
                                                             "name",
                                                             "description",
                                                             "interval",
                                                             "period_seconds",
                                                             "price",
                                                             "fee",
                                                             "agent_price",
                                                             "service_ids",
                                                             "max_requests",
                                                             "created_at",
                                                             "updated_at",
                                                             "deleted"
                                                           ],
                                               "properties": {
                                                               "id": {"$ref": "#/components/schemas/MarketUuid"},
                                                               "provider_id": {
                                                                                "$ref": "#/components/schemas/MarketUuid"
                                                                              },
                                                               "name": {"type": "string"},
                                                               "description": {"type": "string"},
                                                               "interval": {
                                                                             "type": "string",
                                                                             "enum": ["monthly", "annual"]
                                                                           },
                                                               "period_seconds": {"type": "integer"},
                                                               "price": {"$ref": "#/components/schemas/MarketUsdc"},
                                                               "fee": {"$ref": "#/components/schemas/MarketUsdc"},
                                                               "agent_price": {
                                                                                "$ref": "#/components/schemas/MarketUsdc"
                                                                              },
                                                               "service_ids": {
                                                                                "type": "array",
                                                                                "items": {
                                                                                           "$ref": "#/components/schemas/MarketUuid"
                                                                                         }
                                                                              },
                                                               "max_requests": {"type": ["integer", "null"]},
                                                               "created_at": {"type": "integer"},
                                                               "updated_at": {"type": "integer"},
                                                               "deleted": {"type": "boolean"}
                                                             }
                                             },
                               "MarketPlanPage": {
                                                   "type": "object",
                                                   "required": ["limit", "offset", "plans"],
                                                   "properties": {
                                                                   "limit": {"type": "integer"},
                                                                   "offset": {"type": "integer"},
                                                                   "plans": {
                                                                              "type": "array",
                                                                              "items": {
                                                                                         "$ref": "#/components/schemas/MarketPlan"
                                                                                       }
                                                                            }
                                                                 }
                                                 },
                               "MarketPlanCreate": {
                                                     "type": "object",
                                                     "additionalProperties": false,
                                                     "required": ["name", "interval", "price", "service_ids"],
                                                     "properties": {
                                                                     "name": {
                                                                               "type": "string",
                                                                               "minLength": 1,
                                                                               "maxLength": 100
                                                                             },
                                                                     "description": {
                                                                                      "type": "string",
                                                                                      "maxLength": 2000
                                                                                    },
                                                                     "interval": {
                                                                                   "type": "string",
                                                                                   "enum": ["monthly", "annual"]
                                                                                 },
                                                                     "price": {
                                                                                "$ref": "#/components/schemas/MarketUsdc",
                                                                                "description": "What you receive per period; subscribers pay it plus the fee"
                                                                              },
                                                                     "service_ids": {
                                                                                      "type": "array",
                                                                                      "minItems": 1,
                                                                                      "maxItems": 100,
                                                                                      "items": {
                                                                                                 "$ref": "#/components/schemas/MarketUuid"
                                                                                               }
                                                                                    },
                                                                     "max_requests": {
                                                                                       "type": ["integer", "null"],
                                                                                       "minimum": 1,
                                                                                       "description": "Requests per period without payment; absent for no limit"
                                                                                     }
                                                                   }
                                                   },
                               "MarketPlanUpdate": {
                                                     "type": "object",
                                                     "additionalProperties": false,
                                                     "properties": {
                                                                     "name": {
                                                                               "type": "string",
                                                                               "minLength": 1,
                                                                               "maxLength": 100
                                                                             },
                                                                     "description": {
                                                                                      "type": "string",
                                                                                      "maxLength": 2000
                                                                                    },
                                                                     "price": {
                                                                                "$ref": "#/components/schemas/MarketUsdc"
                                                                              },
                                                                     "service_ids": {
                                                                                      "type": "array",
                                                                                      "minItems": 1,
                                                                                      "maxItems": 100,
                                                                                      "items": {
                                                                                                 "$ref": "#/components/schemas/MarketUuid"
                                                                                               }
                                                                                    },
                                                                     "max_requests": {
                                                                                       "type": ["integer", "null"],
                                                                                       "minimum": 1,
                                                                                       "description": "null removes the limit"
                                                                                     }
                                                                   }
                                                   },
                               "MarketSubscriptionStatus": {
                                                             "type": "string",
                                                             "enum": [
                                                                       "pending",
                                                                       "failed",
                                                                       "active",
                                                                       "past_due",
                                                                       "paused",
                                                                       "cancelled",
                                                                       "expired"
                                                                     ]
                                                           },
                               "MarketSubscription": {
                                                       "type": "object",
                                                       "required": [
                                                                     "id",
                                                                     "plan_id",
                                                                     "status",
                                                                     "subscriber",
                                                                     "provider",
                                                                     "provider_id",
                                                                     "price",
                                                                     "fee",
                                                                     "provider_receives",
                                                                     "period_seconds",
                                                                     "grace_seconds",
                                                                     "start",
                                                                     "periods_paid",
                                                                     "paid_through",
                                                                     "next_charge_at",
                                                                     "lapse_at",
                                                                     "failed_attempts",
                                                                     "requests_used",
                                                                     "max_requests",
                                                                     "service_ids",
                                                                     "chain_time",
                                                                     "created_at",
                                                                     "links"
                                                                   ],
                                                       "properties": {
                                                                       "id": {
                                                                               "type": "string",
                                                                               "pattern": "^0x[0-9a-f]{64}$"
                                                                             },
                                                                       "plan_id": {
                                                                                    "$ref": "#/components/schemas/MarketUuid"
                                                                                  },
                                                                       "status": {
                                                                                   "$ref": "#/components/schemas/MarketSubscriptionStatus"
                                                                                 },
                                                                       "subscriber": {
                                                                                       "$ref": "#/components/schemas/MarketWallet"
                                                                                     },
                                                                       "provider": {
                                                                                     "$ref": "#/components/schemas/MarketWallet"
                                                                                   },
                                                                       "provider_id": {
                                                                                        "$ref": "#/components/schemas/MarketUuid"
                                                                                      },
                                                                       "price": {
                                                                                  "$ref": "#/components/schemas/MarketUsdc"
                                                                                },
                                                                       "fee": {
                                                                                "$ref": "#/components/schemas/MarketUsdc"
                                                                              },
                                                                       "provider_receives": {
                                                                                              "$ref": "#/components/schemas/MarketUsdc"
                                                                                            },
                                                                       "period_seconds": {"type": "integer"},
                                                                       "grace_seconds": {"type": "integer"},
                                                                       "start": {"type": "integer"},
                                                                       "periods_paid": {"type": "integer"},
                                                                       "paid_through": {"type": "integer"},
                                                                       "next_charge_at": {
                                                                                           "type": [
                                                                                                     "integer",
                                                                                                     "null"
                                                                                                   ]
                                                                                         },
                                                                       "lapse_at": {"type": "integer"},
                                                                       "failed_attempts": {"type": "integer"},
                                                                       "requests_used": {"type": "integer"},
                                                                       "max_requests": {"type": ["integer", "null"]},
                                                                       "service_ids": {
                                                                                        "type": "array",
                                                                                        "items": {
                                                                                                   "$ref": "#/components/schemas/MarketUuid"
                                                                                                 }
                                                                                      },
                                                                       "chain_time": {"type": "integer"},
                                                                       "created_at": {"type": "integer"},
                                                                       "links": {
                                                                                  "type": "object",
                                                                                  "properties": {
                                                                                                  "self": {
                                                                                                            "type": "string"
                                                                                                          }
                                                                                                }
                                                                                }
                                                                     }
                                                     },
                               "MarketSubscriptionRequested": {
                                                                "allOf": [
                                                                           {
                                                                             "$ref": "#/components/schemas/MarketSubscription"
                                                                           },
                                                                           {
                                                                             "type": "object",
                                                                             "required": ["requested"],
                                                                             "properties": {
                                                                                             "requested": {
                                                                                                            "type": "string",
                                                                                                            "enum": [
                                                                                                                      "cancel",
                                                                                                                      "pause",
                                                                                                                      "resume"
                                                                                                                    ]
                                                                                                          }
                                                                                           }
                                                                           }
                                                                         ]
                                                              },
                               "MarketSubscriptionList": {
                                                           "type": "object",
                                                           "required": ["limit", "subscriptions"],
                                                           "properties": {
                                                                           "limit": {"type": "integer"},
                                                                           "subscriptions": {
                                                                                              "type": "array",
                                                                                              "items": {
                                                                                                         "$ref": "#/components/schemas/MarketSubscription"
                                                                                                       }
                                                                                            }
                                                                         }
                                                         }
                             }
                }
}"##;
